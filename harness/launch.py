"""How a run shares the machine: the frameworks' CPU thread pools, capped before they start, and
the CPUs a SLURM allocation grants. Set once per training process, before an adapter imports its
framework (``runner`` and ``find-lr`` do it in their set-up)."""

from __future__ import annotations

import os
import sys


def limit_cpu_threads(threads: int) -> None:
    """Cap the frameworks' CPU thread pools (0 keeps their defaults), so that runs going in
    parallel do not oversubscribe the cores. MXNet's OpenMP and TensorFlow read these variables
    when they start, so they must be set before the adapter imports them; torch is told directly
    in case it is already imported. ``threads=0`` inside a SLURM job means its CPUs per task
    (``SLURM_CPUS_PER_TASK``): the allocation, not every core of a shared node."""
    threads = threads or slurm_cpus()
    if threads <= 0:
        return
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ[variable] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def slurm_cpus() -> int:
    """The CPUs per task of the SLURM job this process runs in; 0 outside SLURM."""
    value = os.environ.get("SLURM_CPUS_PER_TASK", "")
    return int(value) if value.isdigit() else 0
