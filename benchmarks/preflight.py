"""How long a sweep's preflight takes before the first run trains (issue: 1,000 runs in <= 5 s).

    python -m benchmarks.preflight 20 200 1000 10000

For each N: the time to compose and validate every run of
``-m seed=range(0,N/2) scheduler=constant,cosine`` (``harness.preflight.preflight``), and then to
read every run's finished status from an empty results directory (``_final_status``), as
``python -m harness -m ...`` does before Hydra launches anything. Imports no framework.
"""

from __future__ import annotations

import sys
import tempfile
import time

from harness.cli import _final_status
from harness.preflight import preflight


def main(sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory() as results:
        for n in sizes:
            args = ["-m", f"seed=range(0,{n // 2})", "scheduler=constant,cosine", f"results_dir={results}"]
            started = time.perf_counter()
            configs = preflight(args)
            composed = time.perf_counter()
            finished = [_final_status(cfg) for cfg in configs]
            scanned = time.perf_counter()
            assert len(configs) == n and not any(finished)
            print(f"{n:>6} runs: preflight {composed - started:6.2f} s, status scan {scanned - composed:5.2f} s, "
                  f"total {scanned - started:6.2f} s")


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [20, 200, 1000])
