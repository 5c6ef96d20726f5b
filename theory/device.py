"""Device selection: one rule for every command and library function."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """Turn ``auto|cpu|cuda|cuda:N`` (or a device) into a ``torch.device``.

    ``auto`` picks CUDA when available. Asking for CUDA on a machine without it is an error, not a
    silent fallback, so that a user never mistakes a CPU run for a GPU run.
    """
    if isinstance(spec, torch.device):
        return spec
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch reports no CUDA device; use --device cpu")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {spec!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    return device


def generator(seed: int, device: torch.device) -> torch.Generator:
    """A seeded generator on ``device``: every random draw in the toolkit goes through one."""
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    return gen


@contextmanager
def cpu_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` intra-op CPU threads, restoring the previous number after.

    Small networks are dominated by per-kernel overhead: extra intra-op threads only add
    synchronisation, which on a busy 2-core machine costs several times the work itself (measured
    6–10× slower), and one thread also fixes the reduction order. ``None`` leaves the setting alone.
    """
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextmanager
def compiled_threads() -> Iterator[None]:
    """Run numba's parallel kernels in the block with torch's intra-op thread count, and leave torch's
    count as it was.

    Numba's OpenMP layer sets the process-wide OpenMP thread count to its own when its pool starts and at
    parallel launches, and torch's intra-op count is that same setting: a run under ``OMP_NUM_THREADS=1``
    (or inside :func:`cpu_threads` ``(1)``) went on with 2 torch threads after the first compiled
    subset-sum kernel."""
    import numba

    previous = torch.get_num_threads()
    numba.set_num_threads(max(1, min(previous, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        torch.set_num_threads(previous)
