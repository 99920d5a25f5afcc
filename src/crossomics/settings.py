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


DEFAULT_TORCH_THREADS = 1


def usable_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def set_threads(n_threads: int | None = None) -> int:
    """Set torch's CPU threads; returns the count used.

    The default is one thread: the networks are small, so a minibatch gains little from intra-op threads,
    while spinning OpenMP threads slow everything down as soon as another process shares the cores
    (measured on the demo on a loaded 2-core machine: 33.8 s with 1 thread, 48.6 s with 2). ``0`` means
    every usable core.
    """
    import torch

    if n_threads is None:
        n_threads = DEFAULT_TORCH_THREADS
    if n_threads <= 0:
        n_threads = usable_cores()
    torch.set_num_threads(n_threads)
    return n_threads
