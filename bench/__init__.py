"""Benchmarks: they print figures and assert nothing; `make bench` runs them."""
