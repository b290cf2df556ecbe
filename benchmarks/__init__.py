"""`make bench`: the harness's epoch time against idiomatic d2l-style loops (see bench.py)."""
