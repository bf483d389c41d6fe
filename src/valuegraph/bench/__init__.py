"""Benchmarks: measured runs that print tables and write JSON (not timed tests)."""
