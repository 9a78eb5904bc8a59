"""The benchmark (issue #7): every model of ours against the servers people use, in numbers.

`bench/run` (full) or `bench/run --quick`; see docs/benchmarks.md.
"""
