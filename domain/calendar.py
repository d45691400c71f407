"""The shop's business-day calendar and the warehouse's working hours, in the shop's own time zone."""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

# Every country class is loaded now, while this module is imported (outside the workflow sandbox or passed through
# it): `holidays` otherwise imports a country's module on first use, and inside a workflow that import would re-run
# the whole package in the sandbox, which refuses it.
import holidays.countries
from pydantic import ValidationInfo, field_validator, model_validator

from domain.base import Frozen

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
END_OF_DAY = time(23, 59, 59)
# A `time` cannot say 24:00, so an interval that closes at midnight at the end of its day closes at 00:00.
MIDNIGHT = time(0)
# next_opening gives up after this: a schedule whose every open day is a holiday for a year is a configuration error.
SEARCH_DAYS = 400

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_WHOLE_DAY = timedelta(days=1)
_DAY_LIST = ", ".join(DAY_NAMES)
_INTERVAL = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")
_HOLIDAYS_OPEN = "holidays open"


def _country_entity(code: str) -> type[holidays.HolidayBase] | None:
    """The `holidays` class of an ISO 3166-1 alpha-2 code, or None when the package has no such country."""
    entity = getattr(holidays.countries, code, None) if len(code) == 2 and code.isalpha() else None
    return entity if isinstance(entity, type) and issubclass(entity, holidays.HolidayBase) else None


def _holiday_language(entity: type[holidays.HolidayBase]) -> str | None:
    # Without a language it supports, `holidays` names holidays in the language of the worker's locale, and two
    # workers would then disagree about the same day. English where the country has it, else its own language.
    supported = sorted(entity.supported_languages)
    english = [language for language in supported if language.startswith("en")]
    if "en_US" in supported:
        return "en_US"
    if english:
        return english[0]
    return entity.default_language


def _build_holiday_table(country: str, subdivision: str | None) -> holidays.HolidayBase:
    entity = _country_entity(country)
    if entity is None:
        raise KeyError(f"no public holidays known for country {country!r}")
    return entity(subdiv=subdivision, language=_holiday_language(entity))


def _every_region() -> list[tuple[str, str | None]]:
    regions: list[tuple[str, str | None]] = []
    for code in dir(holidays.countries):
        entity = _country_entity(code)
        if entity is not None:
            regions += [(code, subdivision) for subdivision in (None, *entity.subdivisions)]
    return regions


# One holiday table per (country, subdivision). A workflow cannot build one (each new table loads its translations
# through `locale`, which the workflow sandbox forbids outright), so a worker has every region's table built before
# or while it runs workflows: `prepare_holidays`, which a worker starts in a thread as it begins polling, the shop's
# own region first. All of them take a fifth of a second, which a worker would otherwise spend before its first
# poll. Code outside a workflow builds the table it needs when it needs it. Tables fill in years lazily on lookup,
# so the lock keeps one thread from reading a year that another is still filling in.
_HOLIDAY_TABLES: dict[tuple[str, str | None], holidays.HolidayBase] = {}
_HOLIDAY_LOCK = threading.Lock()
# Held while tables are added; a lookup waits on it while a preparation that will add its table is under way.
_TABLES_ADDED = threading.Condition()
_preparations = 0


def prepare_holidays(first: tuple[str, str | None] | None = None) -> None:
    """Build every region's holiday table now, `first` (country, subdivision) before the others; for a worker,
    outside any workflow."""
    global _preparations
    with _TABLES_ADDED:
        _preparations += 1
    try:
        for region in ([first] if first else []) + _every_region():
            if region not in _HOLIDAY_TABLES:
                table = _build_holiday_table(*region)
                with _TABLES_ADDED:
                    _HOLIDAY_TABLES.setdefault(region, table)
                    _TABLES_ADDED.notify_all()
    finally:
        with _TABLES_ADDED:
            _preparations -= 1
            _TABLES_ADDED.notify_all()


def prepare_holidays_in_background(first: tuple[str, str | None] | None = None) -> threading.Thread:
    """`prepare_holidays` in a daemon thread, counted as under way before this returns, so that a workflow
    looking a holiday up meanwhile waits for its table instead of building it."""
    global _preparations
    with _TABLES_ADDED:
        # Held for the thread until it counts itself: no lookup can find the preparation not yet begun.
        _preparations += 1

    def prepare() -> None:
        global _preparations
        try:
            prepare_holidays(first)
        finally:
            with _TABLES_ADDED:
                _preparations -= 1
                _TABLES_ADDED.notify_all()

    thread = threading.Thread(target=prepare, name="holiday tables", daemon=True)
    thread.start()
    return thread


def _holiday_table(country: str, subdivision: str | None) -> holidays.HolidayBase:
    region = (country, subdivision)
    with _TABLES_ADDED:
        while region not in _HOLIDAY_TABLES and _preparations:
            _TABLES_ADDED.wait()
        table = _HOLIDAY_TABLES.get(region)
        if table is None:
            # Nobody prepared it: only possible outside a worker, where building it is allowed.
            table = _HOLIDAY_TABLES[region] = _build_holiday_table(country, subdivision)
    return table


def _holiday_name(country: str, subdivision: str | None, day: date) -> str | None:
    table = _holiday_table(country, subdivision)
    with _HOLIDAY_LOCK:
        name = table.get(day)
    return name if isinstance(name, str) else None


def _plain_date(day: date) -> date:
    # A datetime is a date too, but its own date is not the shop's date: make the caller say which day they mean.
    if isinstance(day, datetime):
        raise TypeError(f"expected a date, got the datetime {day.isoformat()}; use local_date() to get the shop's day")
    return day


def _aware(at: datetime) -> datetime:
    # A naive datetime could be UTC, the worker's zone or the shop's: refuse to guess which day it falls on.
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got the naive {at.isoformat()}")
    return at


def _seconds_since_epoch(at: datetime) -> int:
    return (at - _EPOCH) // _SECOND


def _first_instant_after_gap(before: datetime, after: datetime, zone: ZoneInfo) -> datetime:
    # The clock jumped somewhere between these two instants; the first second on the new offset is the jump itself,
    # the first instant that exists after the missing wall time. Transitions fall on whole seconds.
    target = after.astimezone(zone).utcoffset()
    low, high = _seconds_since_epoch(before), _seconds_since_epoch(after) + 1
    while high - low > 1:
        middle = (low + high) // 2
        if (_EPOCH + middle * _SECOND).astimezone(zone).utcoffset() == target:
            high = middle
        else:
            low = middle
    return (_EPOCH + high * _SECOND).astimezone(zone)


def _wall_clock(day: date, clock: time, zone: ZoneInfo) -> datetime:
    # fold=0 is the first of a repeated autumn hour: a warehouse that opens at 02:30 opens the first time it is 02:30.
    local = datetime.combine(day, clock.replace(tzinfo=None, fold=0), tzinfo=zone)
    in_utc = local.astimezone(UTC)
    if in_utc.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
        return local
    return _first_instant_after_gap(local.replace(fold=1).astimezone(UTC), in_utc, zone)


class BusinessCalendar(Frozen):
    """Business days (Monday to Friday, except the public holidays of a country and region) in the shop's zone."""

    country: str = "DE"
    subdivision: str | None = None
    timezone: str = "Europe/Berlin"

    @field_validator("country", mode="before")
    @classmethod
    def _known_country(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("must be an ISO 3166-1 alpha-2 country code such as 'DE'")
        code = value.strip().upper()
        if _country_entity(code) is None:
            raise ValueError(
                f"{value!r} is not a country with known public holidays (use an ISO 3166-1 alpha-2 code such as 'DE')"
            )
        return code

    @field_validator("subdivision", mode="before")
    @classmethod
    def _known_subdivision(cls, value: Any, info: ValidationInfo) -> str | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str):
            raise ValueError("must be a subdivision code such as 'BY'")
        country = info.data.get("country", "")
        national = _country_entity(country)
        if national is None:
            return value.strip()
        # Accept any spelling an operator might type ("by", "Bayern") but store the code `holidays` uses.
        spellings = {code.casefold(): code for code in national.subdivisions}
        spellings.update({alias.casefold(): code for alias, code in national.subdivisions_aliases.items()})
        code = spellings.get(value.strip().casefold())
        if code is None:
            known = ", ".join(national.subdivisions) or "none"
            raise ValueError(f"{value!r} is not a subdivision of {country} (use one of: {known})")
        return code

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"{value!r} is not an IANA time zone (use a name such as 'Europe/Berlin')") from error
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The shop's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def region(self) -> str:
        """The country, or ISO 3166-2 country-subdivision, whose public holidays count: 'DE' or 'DE-BY'."""
        return f"{self.country}-{self.subdivision}" if self.subdivision else self.country

    def holiday(self, day: date) -> str | None:
        """The name of the public holiday on `day`, or None when it is none."""
        return _holiday_name(self.country, self.subdivision, _plain_date(day))

    def is_business_day(self, day: date) -> bool:
        """True from Monday to Friday unless the day is a public holiday."""
        return day.weekday() < 5 and self.holiday(day) is None

    def add_business_days(self, start: date, n: int) -> date:
        """The `n`-th business day after `start`; `start` itself never counts, so n=0 gives `start` back."""
        if n < 0:
            raise ValueError(f"cannot count {n} business days: the count must be zero or more")
        day = _plain_date(start)
        counted = 0
        while counted < n:
            day += timedelta(days=1)
            counted += self.is_business_day(day)
        return day

    def local_date(self, at: datetime) -> date:
        """The shop's calendar date at the instant `at`."""
        return _aware(at).astimezone(self.zone).date()

    def at_local(self, day: date, clock: time) -> datetime:
        """The instant the shop's clocks show `clock` on `day`; a time skipped by a DST change becomes the jump."""
        return _wall_clock(_plain_date(day), clock, self.zone)

    def end_of_day(self, day: date) -> datetime:
        """The last second of `day` in shop time, 23:59:59."""
        return self.at_local(day, END_OF_DAY)

    def deadline(self, requested_at: datetime, business_days: int) -> datetime:
        """The end of the `business_days`-th business day after the shop's day of the request.

        The request day never counts, whether or not it is a business day: a refund requested on Thursday with five
        business days is due at the end of the following Thursday.
        """
        return self.end_of_day(self.add_business_days(self.local_date(requested_at), business_days))

    def business_days_left(self, now: datetime, deadline: datetime) -> int:
        """Business days after today (shop time) up to and including the deadline's day; 0 once that day has come."""
        today, last = self.local_date(now), self.local_date(deadline)
        days = (today + timedelta(days=offset) for offset in range(1, (last - today).days + 1))
        return sum(self.is_business_day(day) for day in days)


def _closes_after_opening(opens: time, closes: time) -> bool:
    return closes == MIDNIGHT or closes > opens


def _since_midnight(clock: time) -> timedelta:
    return timedelta(hours=clock.hour, minutes=clock.minute, seconds=clock.second, microseconds=clock.microsecond)


def _span(interval: tuple[time, time]) -> tuple[timedelta, timedelta]:
    """How long after the day's midnight an interval opens and closes."""
    opens, closes = interval
    return _since_midnight(opens), _WHOLE_DAY if closes == MIDNIGHT else _since_midnight(closes)


def _first_overlap(intervals: list[tuple[time, time]]) -> tuple[tuple[time, time], tuple[time, time]] | None:
    """The first two intervals of a sorted list that overlap (touching is fine), or None."""
    for earlier, later in itertools.pairwise(intervals):
        if _span(later)[0] < _span(earlier)[1]:
            return earlier, later
    return None


def _clock_text(clock: time, closing: bool = False) -> str:
    if closing and clock == MIDNIGHT:
        return "24:00"
    return clock.strftime("%H:%M:%S" if clock.second or clock.microsecond else "%H:%M")


def _interval_text(interval: tuple[time, time]) -> str:
    return f"{_clock_text(interval[0])}-{_clock_text(interval[1], closing=True)}"


def _days_text(days: list[int]) -> str:
    runs: list[list[int]] = []
    for day in days:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts: list[str] = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{DAY_NAMES[run[0]]}-{DAY_NAMES[run[-1]]}")
        else:
            parts.extend(DAY_NAMES[day] for day in run)
    return ",".join(parts)


def _spec_error(piece: str, problem: str, expected: str) -> ValueError:
    return ValueError(f"warehouse_hours: {piece!r}: {problem} ({expected})")


def _parse_day(name: str, group: str) -> int:
    for number, known in enumerate(DAY_NAMES):
        if name.casefold() == known.casefold():
            return number
    raise _spec_error(group, f"unknown day {name!r}", f"use {_DAY_LIST}")


def _parse_days(text: str, group: str) -> list[int]:
    days: list[int] = []
    for item in text.split(","):
        ends = [end.strip() for end in item.split("-")]
        if not all(ends) or len(ends) > 2:
            raise _spec_error(
                group, f"cannot read the days {item.strip()!r}", "use a day such as 'Sat' or a range such as 'Mon-Fri'"
            )
        first, last = _parse_day(ends[0], group), _parse_day(ends[-1], group)
        # A range may run past Sunday: "Sat-Mon" is the weekend and the Monday after it.
        days.extend((first + step) % 7 for step in range((last - first) % 7 + 1))
    return sorted(set(days))


def _parse_clock(hours: str, minutes: str, piece: str, group: str, closing: bool) -> time:
    hour, minute = int(hours), int(minutes)
    if closing and (hour, minute) == (24, 0):
        return MIDNIGHT
    if hour > 23 or minute > 59:
        allowed = "00:00 to 24:00" if closing else "00:00 to 23:59"
        raise _spec_error(group, f"no such time {hours}:{minutes} in {piece!r}", f"use a 24-hour clock, {allowed}")
    return time(hour, minute)


def _parse_interval(piece: str, group: str) -> tuple[time, time]:
    match = _INTERVAL.fullmatch(piece)
    if match is None:
        raise _spec_error(
            group, f"cannot read the hours {piece!r}", "use HH:MM-HH:MM on a 24-hour clock, e.g. 08:00-18:00"
        )
    opens = _parse_clock(match[1], match[2], piece, group, closing=False)
    closes = _parse_clock(match[3], match[4], piece, group, closing=True)
    if not _closes_after_opening(opens, closes):
        raise _spec_error(
            group,
            f"{piece!r} closes before it opens",
            "the close must be later than the open; past midnight write e.g. 'Fri 22:00-24:00; Sat 00:00-02:00'",
        )
    return opens, closes


def _parse_group(group: str) -> tuple[list[int], list[tuple[time, time]]]:
    digit = re.search(r"\d", group)
    days_text = group[: digit.start()].strip() if digit else group
    hours_text = group[digit.start() :].strip() if digit else ""
    if not days_text:
        raise _spec_error(group, "no days before the hours", "start with days such as 'Mon-Fri' or 'Sat'")
    if not hours_text:
        raise _spec_error(group, "no hours after the days", "add hours such as 'Mon-Fri 08:00-18:00'")
    days = _parse_days(days_text, group)
    intervals = sorted(_parse_interval(piece.strip(), group) for piece in hours_text.split(","))
    return days, intervals


class WorkingHours(Frozen):
    """When the warehouse works: always (holidays included), or weekly intervals in the calendar's zone.

    Weekly keys are weekdays, 0 for Monday; an interval that closes at 00:00 closes at midnight at the end of its
    day (24:00). With weekly hours, the calendar's public holidays close the warehouse unless `closed_on_holidays`
    is off.
    """

    always_open: bool = True
    weekly: dict[int, list[tuple[time, time]]] = {}
    closed_on_holidays: bool = True
    calendar: BusinessCalendar = BusinessCalendar()

    @field_validator("weekly")
    @classmethod
    def _valid_week(cls, weekly: dict[int, list[tuple[time, time]]]) -> dict[int, list[tuple[time, time]]]:
        checked: dict[int, list[tuple[time, time]]] = {}
        for day, intervals in sorted(weekly.items()):
            if not 0 <= day <= 6:
                raise ValueError(f"day {day} is not a weekday (use 0 for Monday to 6 for Sunday)")
            for opens, closes in intervals:
                if opens.tzinfo is not None or closes.tzinfo is not None:
                    raise ValueError(f"{DAY_NAMES[day]}: opening hours are wall-clock times without a zone")
                if not _closes_after_opening(opens, closes):
                    raise ValueError(f"{DAY_NAMES[day]}: {_interval_text((opens, closes))} closes before it opens")
            ordered = sorted(intervals)
            if clash := _first_overlap(ordered):
                raise ValueError(f"{DAY_NAMES[day]}: {_interval_text(clash[0])} overlaps {_interval_text(clash[1])}")
            checked[day] = ordered
        return checked

    @model_validator(mode="after")
    def _opens_sometime(self) -> Self:
        # always_open is the default, so weekly hours given without turning it off would be ignored without a word.
        if self.always_open and self.weekly:
            raise ValueError("weekly hours are given but always_open is true; set always_open=False to use them")
        if not self.always_open and not any(self.weekly.values()):
            raise ValueError("the warehouse is open at no time at all; give weekly hours or set always_open=True")
        return self

    @classmethod
    def parse(cls, spec: str, calendar: BusinessCalendar) -> WorkingHours:
        """Read hours such as "24/7" or "Mon-Fri 08:00-18:00; Sat 09:00-13:00; holidays open".

        Days are Mon..Sun, as ranges ("Mon-Fri") or lists ("Mon,Wed,Fri"), each followed by one or more intervals
        ("07:30-12:00, 13:00-16:00"); 24:00 may close an interval. Unlisted days are closed, and so are the
        calendar's public holidays unless the spec ends with "; holidays open".
        """
        text = spec.strip()
        if text.casefold() == "24/7":
            return cls(always_open=True, calendar=calendar)
        if not text:
            raise _spec_error(spec, "no hours given", "use '24/7' or days and hours such as 'Mon-Fri 08:00-18:00'")
        groups = [group.strip() for group in text.split(";")]
        closed_on_holidays = " ".join(groups[-1].split()).casefold() != _HOLIDAYS_OPEN
        if not closed_on_holidays:
            groups.pop()
        weekly: dict[int, list[tuple[time, time]]] = {}
        for group in groups:
            if not group:
                raise _spec_error(spec, "empty group between ';'", "separate groups of days and hours with one ';'")
            if " ".join(group.split()).casefold() == _HOLIDAYS_OPEN:
                raise _spec_error(spec, f"{_HOLIDAYS_OPEN!r} in the middle", f"put '; {_HOLIDAYS_OPEN}' at the end")
            days, intervals = _parse_group(group)
            for day in days:
                merged = sorted(weekly.get(day, []) + intervals)
                if clash := _first_overlap(merged):
                    raise _spec_error(
                        group,
                        f"{_interval_text(clash[0])} overlaps {_interval_text(clash[1])} on {DAY_NAMES[day]}",
                        "give each day intervals that do not overlap",
                    )
                weekly[day] = merged
        if not weekly:
            raise _spec_error(spec, "the warehouse would be open at no time", "give days and hours, or '24/7'")
        return cls(always_open=False, weekly=weekly, closed_on_holidays=closed_on_holidays, calendar=calendar)

    def _closed_all_day(self, day: date) -> bool:
        return self.closed_on_holidays and self.calendar.holiday(day) is not None

    def is_open(self, at: datetime) -> bool:
        """True when the warehouse works at the instant `at`."""
        local = _aware(at).astimezone(self.calendar.zone)
        if self.always_open:
            return True
        if self._closed_all_day(local.date()):
            return False
        clock = _since_midnight(local.time())
        return any(start <= clock < end for start, end in map(_span, self.weekly.get(local.weekday(), [])))

    def _openings(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        if self._closed_all_day(day):
            return
        for opens, closes in self.weekly.get(day.weekday(), []):
            close_day = day + timedelta(days=1) if closes == MIDNIGHT else day
            yield self.calendar.at_local(day, opens), self.calendar.at_local(close_day, closes)

    def next_opening(self, at: datetime) -> datetime:
        """`at` itself when the warehouse is open then, else the next instant it opens, in the warehouse's zone."""
        if self.is_open(at):
            return at
        first_day = self.calendar.local_date(at)
        for offset in range(SEARCH_DAYS + 1):
            for opens, closes in self._openings(first_day + timedelta(days=offset)):
                # An interval that lies wholly inside a skipped DST hour does not happen that day.
                if opens > at and closes > opens:
                    return opens
        raise ValueError(
            f"the warehouse does not open within {SEARCH_DAYS} days after {at.isoformat()}: {self.describe()}"
        )

    def describe(self) -> str:
        """The hours for people: "24/7", or "Mon-Fri 08:00-18:00 (Europe/Berlin, closed on DE public holidays)"."""
        if self.always_open:
            return "24/7"
        by_hours: dict[tuple[tuple[time, time], ...], list[int]] = {}
        for day in sorted(self.weekly):
            if self.weekly[day]:
                by_hours.setdefault(tuple(self.weekly[day]), []).append(day)
        schedule = "; ".join(
            f"{_days_text(days)} {', '.join(map(_interval_text, intervals))}" for intervals, days in by_hours.items()
        )
        holidays_note = (
            f"closed on {self.calendar.region} public holidays"
            if self.closed_on_holidays
            else "open on public holidays"
        )
        return f"{schedule} ({self.calendar.timezone}, {holidays_note})"
