"""Benchmarks: ``make bench`` (``python -m bench [name ...]``).

Each module ``bench/bench_<name>.py`` measures one area against a baseline it measures in the same
run, and prints figures and ratios. Nothing here asserts: targets are reported, not enforced.
"""

BENCHES = ["meeting", "edge", "ai", "media", "web", "tracing", "notification"]
