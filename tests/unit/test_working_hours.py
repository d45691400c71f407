"""Warehouse working hours: read from the operator's text, open or closed at an instant, and when they open next."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from temporalio.contrib.pydantic import pydantic_data_converter

from domain.calendar import BusinessCalendar, WorkingHours

BERLIN = ZoneInfo("Europe/Berlin")
CEST = timedelta(hours=2)
GERMANY = BusinessCalendar(country="DE", timezone="Europe/Berlin")
WEEKDAYS = "Mon-Fri 08:00-18:00"
OFFICE = WorkingHours.parse(WEEKDAYS, GERMANY)


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=BERLIN)


def hours(spec: str) -> WorkingHours:
    return WorkingHours.parse(spec, GERMANY)


def error_of(spec: str) -> str:
    # Every message starts with the setting's name, so an operator knows which variable to fix.
    with pytest.raises(ValueError, match=r"^warehouse_hours: ") as error:
        hours(spec)
    return str(error.value)


# Reading the spec


def test_24_7_is_always_open() -> None:
    assert hours("24/7") == WorkingHours(always_open=True, calendar=GERMANY)


def test_24_7_allows_surrounding_whitespace() -> None:
    assert hours("  24/7 \n").always_open


def test_default_hours_are_24_7() -> None:
    assert WorkingHours().always_open
    assert WorkingHours().describe() == "24/7"


def test_weekdays_and_saturday_morning() -> None:
    parsed = hours("Mon-Fri 08:00-18:00; Sat 09:00-13:00")
    weekday = [(time(8), time(18))]
    assert not parsed.always_open
    assert parsed.weekly == {0: weekday, 1: weekday, 2: weekday, 3: weekday, 4: weekday, 5: [(time(9), time(13))]}
    assert parsed.closed_on_holidays
    assert parsed.calendar == GERMANY


def test_day_list_with_a_lunch_break() -> None:
    parsed = hours("Mon,Wed,Fri 07:30-12:00, 13:00-16:00")
    shifts = [(time(7, 30), time(12)), (time(13), time(16))]
    assert parsed.weekly == {0: shifts, 2: shifts, 4: shifts}


def test_intervals_are_sorted() -> None:
    assert hours("Tue 13:00-16:00, 07:30-12:00").weekly == {1: [(time(7, 30), time(12)), (time(13), time(16))]}


def test_day_names_ignore_case_and_spaces() -> None:
    assert hours(" mon - WED ,  fri  8:00 - 9:30 ").weekly == {d: [(time(8), time(9, 30))] for d in (0, 1, 2, 4)}


def test_day_range_may_run_past_sunday() -> None:
    assert sorted(hours("Sat-Mon 10:00-14:00").weekly) == [0, 5, 6]


def test_24_00_closes_at_midnight() -> None:
    assert hours("Fri 22:00-24:00; Sat 00:00-02:00").weekly == {4: [(time(22), time(0))], 5: [(time(0), time(2))]}


def test_a_day_in_two_groups_gets_both_intervals() -> None:
    parsed = hours("Mon-Fri 08:00-12:00; Mon 13:00-17:00")
    assert parsed.weekly[0] == [(time(8), time(12)), (time(13), time(17))]
    assert parsed.weekly[1] == [(time(8), time(12))]


def test_touching_intervals_are_allowed() -> None:
    assert hours("Mon 08:00-12:00, 12:00-16:00").weekly == {0: [(time(8), time(12)), (time(12), time(16))]}


def test_holidays_open_keeps_the_warehouse_open_on_holidays() -> None:
    assert not hours("Mon-Fri 08:00-18:00; holidays open").closed_on_holidays
    assert not hours("Mon-Fri 08:00-18:00 ;  Holidays  Open ").closed_on_holidays


# Refusing malformed specs


def test_unknown_day_is_quoted_with_the_allowed_names() -> None:
    assert error_of("Mon-Fry 08:00-18:00") == (
        "warehouse_hours: 'Mon-Fry 08:00-18:00': unknown day 'Fry' (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)"
    )


def test_hours_without_days_are_refused() -> None:
    assert "'08:00-18:00': no days before the hours" in error_of("08:00-18:00")


def test_days_without_hours_are_refused() -> None:
    assert "'Mon-Fri': no hours after the days" in error_of("Mon-Fri")


def test_unreadable_hours_are_refused() -> None:
    message = error_of("Mon 8-18")
    assert "cannot read the hours '8-18'" in message
    assert "HH:MM-HH:MM" in message


def test_twelve_hour_clock_is_refused() -> None:
    assert "cannot read the hours '8:00am-6:00pm'" in error_of("Mon 8:00am-6:00pm")


def test_hour_past_24_is_refused() -> None:
    assert "no such time 25:00" in error_of("Mon 08:00-25:00")


def test_minute_past_59_is_refused() -> None:
    assert "no such time 08:60" in error_of("Mon 08:60-09:00")


def test_24_00_cannot_open_an_interval() -> None:
    assert "no such time 24:00" in error_of("Mon 24:00-24:00")


def test_close_before_open_is_refused() -> None:
    message = error_of("Fri 22:00-02:00")
    assert "'22:00-02:00' closes before it opens" in message
    assert "'Fri 22:00-24:00; Sat 00:00-02:00'" in message


def test_close_equal_to_open_is_refused() -> None:
    assert "'08:00-08:00' closes before it opens" in error_of("Mon 08:00-08:00")


def test_overlapping_intervals_in_one_group_are_refused() -> None:
    assert "08:00-12:00 overlaps 11:00-13:00 on Mon" in error_of("Mon 08:00-12:00, 11:00-13:00")


def test_overlapping_intervals_from_two_groups_are_refused() -> None:
    message = error_of("Mon-Fri 08:00-12:00; Wed 11:00-14:00")
    assert "'Wed 11:00-14:00': 08:00-12:00 overlaps 11:00-14:00 on Wed" in message


def test_empty_spec_is_refused() -> None:
    assert "no hours given" in error_of("   ")


def test_spec_open_at_no_time_is_refused() -> None:
    assert "open at no time" in error_of("holidays open")


def test_holidays_open_in_the_middle_is_refused() -> None:
    assert "put '; holidays open' at the end" in error_of("Mon 08:00-12:00; holidays open; Tue 08:00-12:00")


def test_empty_group_is_refused() -> None:
    assert "empty group" in error_of("Mon 08:00-12:00;; Tue 08:00-12:00")


def test_dangling_comma_in_days_is_refused() -> None:
    assert "cannot read the days ''" in error_of("Mon, 08:00-12:00")


def test_three_part_day_range_is_refused() -> None:
    assert "cannot read the days 'Mon-Wed-Fri'" in error_of("Mon-Wed-Fri 08:00-12:00")


# The model's own rules, for hours built in code or read from a payload


def test_weekly_hours_with_always_open_left_on_are_refused() -> None:
    with pytest.raises(ValidationError, match="set always_open=False"):
        WorkingHours(weekly={0: [(time(8), time(18))]})


def test_no_hours_and_not_always_open_is_refused() -> None:
    with pytest.raises(ValidationError, match="open at no time"):
        WorkingHours(always_open=False, weekly={0: []})


def test_weekday_key_past_sunday_is_refused() -> None:
    with pytest.raises(ValidationError, match="day 7 is not a weekday"):
        WorkingHours(always_open=False, weekly={7: [(time(8), time(18))]})


def test_model_refuses_overlapping_intervals() -> None:
    with pytest.raises(ValidationError, match="Mon: 08:00-12:00 overlaps 11:00-13:00"):
        WorkingHours(always_open=False, weekly={0: [(time(11), time(13)), (time(8), time(12))]})


def test_model_refuses_an_interval_that_closes_before_it_opens() -> None:
    with pytest.raises(ValidationError, match="Tue: 18:00-08:00 closes before it opens"):
        WorkingHours(always_open=False, weekly={1: [(time(18), time(8))]})


def test_hours_round_trip_through_json() -> None:
    parsed = hours("Mon,Wed,Fri 07:30-12:00, 13:00-16:00; Sat 22:00-24:00; holidays open")
    again = WorkingHours.model_validate_json(parsed.model_dump_json())
    assert again == parsed
    assert again.weekly[5] == [(time(22), time(0))]


def test_hours_round_trip_through_a_temporal_payload() -> None:
    parsed = WorkingHours.parse("Mon-Fri 08:00-12:00, 13:00-17:00", BusinessCalendar(subdivision="BY"))
    converter = pydantic_data_converter.payload_converter
    [back] = converter.from_payloads(converter.to_payloads([parsed]), [WorkingHours])
    assert back == parsed
    assert set(back.weekly) == {0, 1, 2, 3, 4}


# Open or closed


def test_open_at_the_opening_minute() -> None:
    assert OFFICE.is_open(berlin(2027, 3, 1, 8))


def test_closed_just_before_opening() -> None:
    assert not OFFICE.is_open(berlin(2027, 3, 1, 7, 59, 59))


def test_closed_at_the_closing_minute() -> None:
    assert not OFFICE.is_open(berlin(2027, 3, 1, 18))


def test_open_is_judged_in_the_warehouse_zone() -> None:
    # 07:00 UTC is 08:00 in Berlin in winter, 09:00 in summer.
    assert OFFICE.is_open(datetime(2027, 3, 1, 7, tzinfo=UTC))
    assert not OFFICE.is_open(datetime(2027, 3, 1, 6, 30, tzinfo=UTC))
    assert OFFICE.is_open(datetime(2027, 7, 1, 6, 30, tzinfo=UTC))


def test_closed_at_the_weekend() -> None:
    assert not OFFICE.is_open(berlin(2027, 3, 6, 10))


def test_closed_on_a_public_holiday() -> None:
    assert not OFFICE.is_open(berlin(2027, 3, 26, 10))


def test_open_on_a_public_holiday_when_holidays_are_open() -> None:
    assert hours(f"{WEEKDAYS}; holidays open").is_open(berlin(2027, 3, 26, 10))


def test_closed_on_a_regional_holiday() -> None:
    bavaria = WorkingHours.parse(WEEKDAYS, BusinessCalendar(subdivision="BY"))
    assert not bavaria.is_open(berlin(2027, 1, 6, 10))
    assert OFFICE.is_open(berlin(2027, 1, 6, 10))


def test_closed_over_lunch() -> None:
    shifts = hours("Mon-Fri 08:00-12:00, 13:00-17:00")
    assert shifts.is_open(berlin(2027, 3, 1, 11, 59))
    assert not shifts.is_open(berlin(2027, 3, 1, 12, 30))
    assert shifts.is_open(berlin(2027, 3, 1, 13))


def test_open_until_midnight_with_24_00() -> None:
    late = hours("Mon 20:00-24:00")
    assert late.is_open(berlin(2027, 3, 1, 23, 59, 59))
    assert not late.is_open(berlin(2027, 3, 2, 0))


def test_24_7_is_open_on_a_holiday_at_night() -> None:
    assert hours("24/7").is_open(berlin(2027, 12, 25, 3))


def test_is_open_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        OFFICE.is_open(datetime(2027, 3, 1, 10))


# When it opens next


def test_next_opening_when_open_is_the_same_instant() -> None:
    now = datetime(2027, 3, 1, 10, 15, 30, 123456, tzinfo=UTC)
    assert OFFICE.next_opening(now) is now


def test_next_opening_before_opening_is_the_same_morning() -> None:
    assert OFFICE.next_opening(berlin(2027, 3, 1, 6)) == berlin(2027, 3, 1, 8)


def test_next_opening_is_in_the_warehouse_zone() -> None:
    opening = OFFICE.next_opening(datetime(2027, 3, 1, 5, tzinfo=UTC))
    assert opening.tzinfo == BERLIN
    assert (opening.hour, opening.minute) == (8, 0)


def test_next_opening_after_closing_on_friday_is_monday_morning() -> None:
    assert OFFICE.next_opening(berlin(2027, 3, 5, 18, 30)) == berlin(2027, 3, 8, 8)


def test_next_opening_on_saturday_evening_is_monday_morning() -> None:
    assert OFFICE.next_opening(berlin(2027, 3, 6, 20)) == berlin(2027, 3, 8, 8)


def test_next_opening_on_easter_monday_is_tuesday_morning() -> None:
    assert OFFICE.next_opening(berlin(2027, 3, 29, 7)) == berlin(2027, 3, 30, 8)


def test_next_opening_over_easter_skips_both_holidays() -> None:
    # Thu 25 Mar evening: Good Friday, the weekend and Easter Monday are all closed.
    assert OFFICE.next_opening(berlin(2027, 3, 25, 19)) == berlin(2027, 3, 30, 8)


def test_next_opening_on_easter_monday_with_holidays_open_is_that_morning() -> None:
    assert hours(f"{WEEKDAYS}; holidays open").next_opening(berlin(2027, 3, 29, 7)) == berlin(2027, 3, 29, 8)


def test_next_opening_when_always_open_is_now() -> None:
    now = berlin(2027, 12, 25, 3)
    assert hours("24/7").next_opening(now) is now


def test_next_opening_over_lunch_is_the_afternoon_shift() -> None:
    shifts = hours("Mon-Fri 08:00-12:00, 13:00-17:00")
    assert shifts.next_opening(berlin(2027, 3, 1, 12, 15)) == berlin(2027, 3, 1, 13)


def test_next_opening_after_the_last_shift_is_the_next_day() -> None:
    shifts = hours("Mon-Fri 08:00-12:00, 13:00-17:00")
    assert shifts.next_opening(berlin(2027, 3, 1, 17)) == berlin(2027, 3, 2, 8)


def test_next_opening_in_the_spring_forward_gap_is_the_jump_to_summer_time() -> None:
    # Sun 28 Mar 2027 skips 02:00-03:00; an opening at 02:30 happens at 03:00 CEST = 01:00 UTC.
    night = hours("Sun 02:30-06:00")
    opening = night.next_opening(berlin(2027, 3, 28, 1))
    assert opening.astimezone(UTC) == datetime(2027, 3, 28, 1, 0, tzinfo=UTC)
    assert (opening.hour, opening.minute, opening.utcoffset()) == (3, 0, CEST)
    assert night.is_open(opening)


def test_next_opening_skips_hours_wholly_inside_the_spring_forward_gap() -> None:
    night = hours("Sun 02:15-02:45; Tue 08:00-12:00")
    assert night.next_opening(berlin(2027, 3, 28, 1)) == berlin(2027, 3, 30, 8)


def test_next_opening_in_the_repeated_autumn_hour_is_the_first_one() -> None:
    # Sun 31 Oct 2027 repeats 02:00-03:00; the warehouse opens the first time it is 02:30 (CEST, 00:30 UTC).
    opening = hours("Sun 02:30-06:00").next_opening(berlin(2027, 10, 31, 1))
    assert opening.astimezone(UTC) == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)


def test_next_opening_gives_up_instead_of_searching_forever(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(WorkingHours, "_closed_all_day", lambda self, day: True)
    with pytest.raises(ValueError, match="does not open within 400 days"):
        OFFICE.next_opening(berlin(2027, 3, 1, 6))


def test_next_opening_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        OFFICE.next_opening(datetime(2027, 3, 1, 6))


# Describing


def test_describe_weekdays_and_saturday() -> None:
    assert hours("Mon-Fri 08:00-18:00; Sat 09:00-13:00").describe() == (
        "Mon-Fri 08:00-18:00; Sat 09:00-13:00 (Europe/Berlin, closed on DE public holidays)"
    )


def test_describe_day_lists_shifts_and_midnight() -> None:
    assert hours("Mon,Wed,Fri 07:30-12:00, 13:00-16:00; Sat,Sun 20:00-24:00; holidays open").describe() == (
        "Mon,Wed,Fri 07:30-12:00, 13:00-16:00; Sat,Sun 20:00-24:00 (Europe/Berlin, open on public holidays)"
    )


def test_describe_names_the_region_whose_holidays_close() -> None:
    bavaria = WorkingHours.parse(WEEKDAYS, BusinessCalendar(subdivision="BY"))
    assert bavaria.describe() == "Mon-Fri 08:00-18:00 (Europe/Berlin, closed on DE-BY public holidays)"


def test_description_reads_back_as_the_same_hours() -> None:
    parsed = hours("Sat-Mon 10:00-14:00; Tue,Thu 08:00-12:00, 12:30-16:00")
    schedule = parsed.describe().split(" (")[0]
    assert hours(schedule) == parsed


def test_hours_are_kept_in_the_calendar_zone() -> None:
    # 10:00 UTC on Mon 1 Mar is 19:00 in Tokyo, after closing; Tue 2 Mar 08:00 Tokyo is Mon 23:00 UTC.
    tokyo = WorkingHours.parse(WEEKDAYS, BusinessCalendar(country="JP", timezone="Asia/Tokyo"))
    assert not tokyo.is_open(datetime(2027, 3, 1, 10, tzinfo=UTC))
    opening = tokyo.next_opening(datetime(2027, 3, 1, 10, tzinfo=UTC))
    assert opening == datetime(2027, 3, 1, 23, tzinfo=UTC)
    assert opening.tzinfo == ZoneInfo("Asia/Tokyo")
