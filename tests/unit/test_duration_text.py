"""A policy's spans read as a person writes them in the timeline: `none within 14 days`, not `14 days, 0:00:00`."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.policy import duration_text


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(days=14), "14 days"),
        (timedelta(days=1), "1 day"),
        (timedelta(hours=6), "6 hours"),
        (timedelta(minutes=90), "90 minutes"),
        (timedelta(seconds=5), "0:00:05"),
        (timedelta(0), "0:00:00"),
    ],
)
def test_a_span_reads_in_its_largest_whole_unit(span: timedelta, text: str) -> None:
    assert duration_text(span) == text
