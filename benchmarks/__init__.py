"""Benchmarks of the plan (read + normalize + make_plan) against a bare pandas merge; run with `make bench`."""
