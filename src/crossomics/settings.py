"""Device resolution, seeding and thread limits: the only place these are decided."""

from __future__ import annotations

import logging
import os
import random

import numpy as np

from .errors import InputError

log = logging.getLogger("crossomics")

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(device: str = "auto"):
    """Return a ``torch.device`` for ``auto``/``cpu``/``cuda`` (or ``cuda:N``).

    ``auto`` picks CUDA when available and falls back to CPU with a warning-free info message;
    ``cuda`` without a GPU is an :class:`InputError` (exit code 2) with the fix.
    """
    import torch

    name = (device or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        log.info("--device auto: no CUDA GPU visible, using the CPU")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            msg = (
                f"--device {device}: no CUDA GPU is visible to this process (torch {torch.__version__}, "
                f"CUDA build: {torch.version.cuda or 'no'}). Use --device auto (falls back to the CPU) or --device cpu, "
                "or run on a GPU node with a CUDA build of torch."
            )
            raise InputError(msg)
        return torch.device(name)
    msg = f"--device {device!r} is not one of auto, cpu, cuda (or cuda:N)."
    raise InputError(msg)


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, numpy and torch (CPU and CUDA) and return a numpy Generator for local use."""
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return np.random.default_rng(seed)


# default torch CPU threads: every usable core up to this many (OMP_NUM_THREADS, when set, decides instead).
# Training steps on the 2-core development machine, idle: 95 ms with 1 thread, 63 ms with 2; small networks
# gain little from many threads, hence the cap
DEFAULT_MAX_THREADS = 8


def usable_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def default_threads() -> int:
    """``OMP_NUM_THREADS`` when set to a positive number, else every usable core up to :data:`DEFAULT_MAX_THREADS`."""
    pinned = os.environ.get("OMP_NUM_THREADS", "").strip()
    if pinned.isdigit() and int(pinned) > 0:
        return int(pinned)
    return min(usable_cores(), DEFAULT_MAX_THREADS)


def set_threads(n_threads: int | None = None) -> int:
    """Set torch's CPU threads; returns the count used.

    ``None`` means :func:`default_threads` (the cores this process may use, or ``OMP_NUM_THREADS``). On cores
    shared with other busy processes one thread can be faster, as spinning OpenMP threads wait for each other
    (a loaded 2-core machine ran the demo in 33.8 s with 1 thread, 48.6 s with 2): pass ``1`` there. ``0``
    means every usable core.
    """
    import torch

    if n_threads is None:
        n_threads = default_threads()
    if n_threads <= 0:
        n_threads = usable_cores()
    torch.set_num_threads(n_threads)
    return n_threads
