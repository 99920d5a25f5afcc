"""Atomic writers: every output is written under a temporary name and renamed when complete."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError

TMP_MARK = ".crossomics-tmp"


def require_free_space(path: str | os.PathLike, n_bytes: int, *, what: str) -> None:
    """Refuse to start writing ``n_bytes`` to ``path`` when its file system has less than that free.

    A large output that runs out of space half-way fails late and leaves nothing; this fails first, saying
    how much is needed and where.
    """
    folder = Path(path).parent
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if free < n_bytes:
        msg = (
            f"{path}: writing {what} needs about {n_bytes / 2**30:.1f} GiB, but {folder} has "
            f"{free / 2**30:.1f} GiB free. Free some space there, or write to another folder."
        )
        raise InputError(msg)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds.

    A crash or kill leaves at most a ``*.crossomics-tmp*`` file, never a half-written file under the final
    name, and never touches an earlier complete ``path`` until the new one is complete.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}{TMP_MARK}{os.getpid()}{final.suffix}")
    try:
        yield tmp
        if tmp.is_dir():
            # directories cannot replace a non-empty directory atomically; move the old one aside first
            if final.exists():
                old = final.with_name(f".{final.name}{TMP_MARK}old{os.getpid()}")
                os.replace(final, old)
                os.replace(tmp, final)
                _remove(old)
            else:
                os.replace(tmp, final)
        else:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, final)
    finally:
        if tmp.exists():
            _remove(tmp)


def _remove(p: Path) -> None:
    if p.is_dir():
        import shutil

        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def clean_stale_temps(root: str | os.PathLike) -> int:
    """Delete temporary files left by killed runs under ``root``. Returns how many were removed."""
    root = Path(root)
    if not root.exists():
        return 0
    n = 0
    for p in sorted(root.rglob(f"*{TMP_MARK}*"), key=lambda q: len(q.parts), reverse=True):
        if p.exists():
            _remove(p)
            n += 1
    return n


def write_h5ad(adata, path: str | os.PathLike) -> Path:
    """Write an AnnData atomically (gzip-free for speed)."""
    with atomic_path(path) as tmp:
        adata.write_h5ad(tmp)
    return Path(path)


def write_json(obj: Any, path: str | os.PathLike) -> Path:
    """Write JSON atomically, indented, with numpy scalars converted."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=_json_default) + "\n")
    return Path(path)


def write_text(text: str, path: str | os.PathLike) -> Path:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_tsv(df: pd.DataFrame, path: str | os.PathLike, *, index: bool = False) -> Path:
    """Write a tab-separated table atomically."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=index)
    return Path(path)


def _json_default(o: Any):
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    msg = f"not JSON serialisable: {type(o)}"
    raise TypeError(msg)
