"""The business calendar counts Monday-to-Friday days, skips public holidays and ends days at 23:59:59 shop time."""

import os
import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from temporalio.contrib.pydantic import pydantic_data_converter

from domain.calendar import BusinessCalendar

BERLIN = ZoneInfo("Europe/Berlin")
CET = timedelta(hours=1)
CEST = timedelta(hours=2)
GERMANY = BusinessCalendar(country="DE", timezone="Europe/Berlin")
BAVARIA = BusinessCalendar(country="DE", subdivision="BY", timezone="Europe/Berlin")


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=BERLIN)


def test_defaults_are_germany_in_berlin() -> None:
    calendar = BusinessCalendar()
    assert (calendar.country, calendar.subdivision, calendar.timezone) == ("DE", None, "Europe/Berlin")
    assert calendar.zone == BERLIN


def test_deadline_skips_good_friday_and_easter_monday() -> None:
    # Thu 25 Mar; Fri 26 and Mon 29 are holidays: Tue 30, Wed 31, Thu 1, Fri 2, Mon 5 April.
    assert GERMANY.deadline(berlin(2027, 3, 25, 10), 5) == berlin(2027, 4, 5, 23, 59, 59)


def test_deadline_from_a_saturday_counts_from_monday() -> None:
    assert GERMANY.deadline(berlin(2027, 3, 6, 11), 5) == berlin(2027, 3, 12, 23, 59, 59)


def test_deadline_skips_christmas_day_but_not_christmas_eve() -> None:
    # Wed 23 Dec: Thu 24, (Fri 25 holiday, Sat 26 holiday and weekend), Mon 28, Tue 29, Wed 30, Thu 31.
    assert GERMANY.deadline(berlin(2026, 12, 23, 9), 5) == berlin(2026, 12, 31, 23, 59, 59)


def test_deadline_skips_new_years_day() -> None:
    # Mon 28 Dec: Tue 29, Wed 30, Thu 31, (Fri 1 Jan holiday), Mon 4, Tue 5.
    assert GERMANY.deadline(berlin(2026, 12, 28, 9), 5) == berlin(2027, 1, 5, 23, 59, 59)


def test_deadline_counts_from_the_berlin_day_not_the_utc_day() -> None:
    # Thu 4 Mar 23:30 UTC is Fri 5 Mar 00:30 in Berlin: Mon 8 .. Fri 12. From the UTC Thursday it would be Thu 11.
    assert GERMANY.deadline(datetime(2027, 3, 4, 23, 30, tzinfo=UTC), 5) == berlin(2027, 3, 12, 23, 59, 59)


def test_deadline_after_spring_forward_is_end_of_day_in_summer_time() -> None:
    # Clocks go forward on Sun 28 Mar 2027: requested in CET, due in CEST.
    due = GERMANY.deadline(berlin(2027, 3, 25, 10), 5)
    assert due.utcoffset() == CEST
    assert due.astimezone(UTC) == datetime(2027, 4, 5, 21, 59, 59, tzinfo=UTC)


def test_deadline_after_fall_back_is_end_of_day_in_winter_time() -> None:
    # Clocks go back on Sun 31 Oct 2027. Wed 27 Oct: Thu 28, Fri 29, Mon 1 Nov (no national holiday), Tue 2, Wed 3.
    due = GERMANY.deadline(berlin(2027, 10, 27, 10), 5)
    assert due == berlin(2027, 11, 3, 23, 59, 59)
    assert due.utcoffset() == CET
    assert due.astimezone(UTC) == datetime(2027, 11, 3, 22, 59, 59, tzinfo=UTC)


def test_deadline_is_in_the_shop_zone() -> None:
    due = GERMANY.deadline(datetime(2027, 3, 8, 9, tzinfo=UTC), 1)
    assert due.tzinfo == BERLIN
    assert (due.date(), due.time()) == (date(2027, 3, 9), time(23, 59, 59))


def test_zero_day_deadline_is_the_end_of_the_request_day() -> None:
    assert GERMANY.deadline(berlin(2027, 3, 6, 11), 0) == berlin(2027, 3, 6, 23, 59, 59)


def test_national_holiday_has_a_name() -> None:
    assert GERMANY.holiday(date(2027, 3, 26)) == "Good Friday"
    assert GERMANY.holiday(date(2027, 3, 25)) is None


def test_epiphany_is_a_holiday_in_bavaria_only() -> None:
    assert BAVARIA.holiday(date(2027, 1, 6)) == "Epiphany"
    assert not BAVARIA.is_business_day(date(2027, 1, 6))
    assert GERMANY.holiday(date(2027, 1, 6)) is None
    assert GERMANY.is_business_day(date(2027, 1, 6))


def test_bavarian_deadline_skips_epiphany() -> None:
    assert BAVARIA.deadline(berlin(2027, 1, 5, 10), 1) == berlin(2027, 1, 7, 23, 59, 59)
    assert GERMANY.deadline(berlin(2027, 1, 5, 10), 1) == berlin(2027, 1, 6, 23, 59, 59)


def test_holiday_names_do_not_depend_on_the_worker_locale() -> None:
    # Workers with different locales must agree on every value a workflow sees.
    script = "import datetime, domain.calendar as c; print(c.BusinessCalendar().holiday(datetime.date(2027, 3, 26)))"
    env = {**os.environ, "LANGUAGE": "de", "LC_ALL": "de_DE.UTF-8", "LANG": "de_DE.UTF-8"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "Good Friday"


def in_a_fresh_process(script: str) -> str:
    """What `script` prints, run by a Python that has imported nothing of ours yet."""
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()


def test_importing_the_calendar_builds_no_holiday_table() -> None:
    # Building every region's table is a fifth of a second a worker would spend before its first poll.
    assert in_a_fresh_process("import domain.calendar as c; print(len(c._HOLIDAY_TABLES))") == "0"


def test_a_holiday_looked_up_while_the_tables_are_prepared_comes_from_the_preparation() -> None:
    # A workflow cannot build a table (the sandbox forbids `locale`): while a worker prepares them, a lookup waits.
    script = """
import datetime, threading, domain.calendar as c
built = []
build = c._build_holiday_table
c._build_holiday_table = lambda *region: built.append((threading.current_thread().name, region)) or build(*region)
preparing = c.prepare_holidays_in_background(("FR", None))
print(c.BusinessCalendar(country="FR", timezone="Europe/Paris").holiday(datetime.date(2027, 7, 14)))
print(built[0], all(name == "holiday tables" for name, _ in built))
preparing.join()
print(len(c._HOLIDAY_TABLES) > 900, len(built) == len(c._HOLIDAY_TABLES))
"""
    assert in_a_fresh_process(script).splitlines() == [
        "National Day",
        "('holiday tables', ('FR', None)) True",
        "True True",
    ]


def test_outside_a_worker_a_lookup_builds_the_table_it_needs() -> None:
    script = "import datetime, domain.calendar as c; print(c.BusinessCalendar()"
    script += ".holiday(datetime.date(2027, 12, 25)), len(c._HOLIDAY_TABLES))"
    assert in_a_fresh_process(script) == "Christmas Day 1"


def test_weekends_are_not_business_days() -> None:
    assert GERMANY.is_business_day(date(2027, 3, 5))
    assert not GERMANY.is_business_day(date(2027, 3, 6))
    assert not GERMANY.is_business_day(date(2027, 3, 7))


def test_country_and_subdivision_spellings_are_normalised() -> None:
    assert BusinessCalendar(country=" de ", subdivision="by") == BAVARIA
    assert BusinessCalendar(subdivision="Bayern").subdivision == "BY"
    assert BusinessCalendar(subdivision="").subdivision is None


def test_unknown_country_names_the_country_field() -> None:
    with pytest.raises(ValidationError, match="'XX' is not a country") as error:
        BusinessCalendar(country="XX")
    assert [e["loc"] for e in error.value.errors()] == [("country",)]


def test_unknown_subdivision_names_the_subdivision_field() -> None:
    with pytest.raises(ValidationError, match="'ZZ' is not a subdivision of DE") as error:
        BusinessCalendar(subdivision="ZZ")
    assert [e["loc"] for e in error.value.errors()] == [("subdivision",)]


def test_subdivision_of_another_country_is_refused() -> None:
    with pytest.raises(ValidationError, match="'CA' is not a subdivision of DE"):
        BusinessCalendar(country="DE", subdivision="CA")


def test_unknown_timezone_names_the_timezone_field() -> None:
    with pytest.raises(ValidationError, match="'Mars/Olympus' is not an IANA time zone") as error:
        BusinessCalendar(timezone="Mars/Olympus")
    assert [e["loc"] for e in error.value.errors()] == [("timezone",)]


def test_malformed_timezone_is_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        BusinessCalendar(timezone="../etc/passwd")


def test_validation_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="country"):
        BusinessCalendar(country="Germany")


def test_calendar_is_frozen() -> None:
    with pytest.raises(ValidationError):
        GERMANY.country = "FR"  # type: ignore[misc]


def test_adding_zero_business_days_gives_the_start_even_on_a_weekend() -> None:
    assert GERMANY.add_business_days(date(2027, 3, 6), 0) == date(2027, 3, 6)


def test_adding_zero_business_days_gives_the_start_even_on_a_holiday() -> None:
    assert GERMANY.add_business_days(date(2027, 3, 26), 0) == date(2027, 3, 26)


def test_one_business_day_after_friday_is_monday() -> None:
    assert GERMANY.add_business_days(date(2027, 3, 5), 1) == date(2027, 3, 8)


def test_one_business_day_after_a_holiday_is_the_next_working_day() -> None:
    assert GERMANY.add_business_days(date(2027, 3, 26), 1) == date(2027, 3, 30)


def test_business_days_span_the_year_end() -> None:
    assert GERMANY.add_business_days(date(2026, 12, 31), 1) == date(2027, 1, 4)


def test_negative_business_days_are_refused() -> None:
    with pytest.raises(ValueError, match="-1 business days"):
        GERMANY.add_business_days(date(2027, 3, 5), -1)


def test_a_datetime_is_not_taken_for_a_date() -> None:
    with pytest.raises(TypeError, match="local_date"):
        GERMANY.add_business_days(datetime(2027, 3, 5, 23, 30, tzinfo=UTC), 1)


def test_local_date_is_the_berlin_date() -> None:
    assert GERMANY.local_date(datetime(2027, 3, 4, 23, 30, tzinfo=UTC)) == date(2027, 3, 5)
    assert GERMANY.local_date(datetime(2027, 7, 4, 21, 59, tzinfo=UTC)) == date(2027, 7, 4)
    assert GERMANY.local_date(datetime(2027, 7, 4, 22, 0, tzinfo=UTC)) == date(2027, 7, 5)


def test_local_date_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        GERMANY.local_date(datetime(2027, 3, 4, 12))


def test_deadline_refuses_a_naive_request_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        GERMANY.deadline(datetime(2027, 3, 4, 12), 5)


def test_end_of_day_on_the_spring_forward_day_is_summer_time() -> None:
    end = GERMANY.end_of_day(date(2027, 3, 28))
    assert end == berlin(2027, 3, 28, 23, 59, 59)
    assert end.astimezone(UTC) == datetime(2027, 3, 28, 21, 59, 59, tzinfo=UTC)


def test_at_local_gives_the_shop_wall_time() -> None:
    at = GERMANY.at_local(date(2027, 3, 1), time(8, 0))
    assert at.astimezone(UTC) == datetime(2027, 3, 1, 7, 0, tzinfo=UTC)


def test_at_local_in_the_spring_forward_gap_is_the_jump_to_summer_time() -> None:
    # 02:00-03:00 does not exist on 28 Mar 2027; the first instant after 02:30 is 03:00 CEST = 01:00 UTC.
    at = GERMANY.at_local(date(2027, 3, 28), time(2, 30))
    assert at.astimezone(UTC) == datetime(2027, 3, 28, 1, 0, tzinfo=UTC)
    assert (at.hour, at.minute, at.utcoffset()) == (3, 0, CEST)


def test_at_local_in_the_repeated_autumn_hour_is_the_first_one() -> None:
    at = GERMANY.at_local(date(2027, 10, 31), time(2, 30))
    assert at.astimezone(UTC) == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)


def test_business_days_left_counts_days_after_today_through_the_deadline() -> None:
    # Thu 25 Mar to Mon 5 Apr: Tue 30, Wed 31, Thu 1, Fri 2, Mon 5.
    assert GERMANY.business_days_left(berlin(2027, 3, 25, 10), berlin(2027, 4, 5, 23, 59, 59)) == 5


def test_business_days_left_is_one_on_the_last_working_day_before() -> None:
    assert GERMANY.business_days_left(berlin(2027, 4, 2, 17), berlin(2027, 4, 5, 23, 59, 59)) == 1


def test_business_days_left_is_zero_on_the_deadline_day() -> None:
    assert GERMANY.business_days_left(berlin(2027, 4, 5, 8), berlin(2027, 4, 5, 23, 59, 59)) == 0


def test_business_days_left_is_zero_after_the_deadline() -> None:
    assert GERMANY.business_days_left(berlin(2027, 4, 7, 8), berlin(2027, 4, 5, 23, 59, 59)) == 0


def test_business_days_left_uses_the_berlin_day_of_now() -> None:
    # Sun 4 Apr 23:30 UTC is already Mon 5 Apr in Berlin, the deadline day.
    now = datetime(2027, 4, 4, 23, 30, tzinfo=UTC)
    assert GERMANY.business_days_left(now, berlin(2027, 4, 5, 23, 59, 59)) == 0


def test_calendar_round_trips_through_json() -> None:
    assert BusinessCalendar.model_validate_json(BAVARIA.model_dump_json()) == BAVARIA


def test_calendar_round_trips_through_a_temporal_payload() -> None:
    converter = pydantic_data_converter.payload_converter
    [payload] = converter.to_payloads([BAVARIA])
    assert converter.from_payloads([payload], [BusinessCalendar]) == [BAVARIA]
