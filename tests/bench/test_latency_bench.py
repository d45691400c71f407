"""`bench.latency`'s arithmetic and report, so the figures the README quotes cannot rot."""

from __future__ import annotations

from bench.latency import Latency, Sightings, percentile, report


def test_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]

    assert (percentile(values, 0.5), percentile(values, 0.95), percentile(values, 0.99)) == (50.0, 95.0, 99.0)
    assert percentile([7.0], 0.99) == 7.0


def test_a_latency_is_from_the_start_of_placement_to_the_first_sighting() -> None:
    sightings = Sightings(placed={"a": 10.0, "b": 11.0})
    sightings.seen["paid"].update({"a": 10.1, "b": 11.25})

    assert sorted(round(ms) for ms in sightings.latencies_ms("paid")) == [100, 250]
    assert sightings.latencies_ms("completed") == []


def test_the_report_says_whether_the_paid_goal_is_met() -> None:
    fast = Latency(rate=2.0, orders=2, paid_ms=[90.0, 120.0], completed_ms=[400.0, 500.0], placement_lag_ms=3.0)
    slow = Latency(rate=2.0, orders=2, paid_ms=[90.0, 300.0], completed_ms=[400.0], placement_lag_ms=3.0)

    assert "p99 to paid under 250 ms: met" in report(fast)
    assert "NOT met" in report(slow)
    assert "(1 of 2)" in report(slow)
