"""A rerun of ``crossomics run`` into a folder that holds earlier outputs: they are kept until it succeeds.

Each file is already written atomically (:func:`~crossomics.io.write.atomic_path`), but a rerun that fails
half-way (bad input found at QC, training out of memory) would leave a folder that mixes its new QC and
priors with the earlier run's model and results. So the stage folders of the earlier run are moved aside
(renames, no copies) into ``DIR/.crossomics-previous-run/`` first, and

- the run succeeds: the earlier outputs are deleted;
- the run fails with an error: the new partial outputs are deleted and the earlier ones moved back, byte for
  byte as they were;
- the run is killed or stopped by a signal: both are left, so that ``--resume`` continues the new run (the
  earlier outputs stay aside until a run succeeds); a later run without ``--resume`` puts them back first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from .layout import SUBDIRS

log = logging.getLogger("crossomics")

#: where the earlier run's stage folders wait (no temporary-file mark: stale-temp cleaning must keep it)
PREVIOUS = ".crossomics-previous-run"
CHECKPOINT = Path("model") / "checkpoint.pt"


def _move(names: list[str], src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for name in names:
        os.replace(src / name, dst / name)


def _stage_dirs(root: Path) -> list[str]:
    return [d for d in SUBDIRS if (root / d).exists()]


def _restore(outdir: Path, previous: Path) -> None:
    """Delete the new stage folders and move the earlier ones back."""
    for name in _stage_dirs(outdir):
        shutil.rmtree(outdir / name)
    _move(_stage_dirs(previous), previous, outdir)
    shutil.rmtree(previous)


@contextlib.contextmanager
def keep_previous_outputs(outdir: str | os.PathLike, *, resume: bool = False) -> Iterator[None]:
    """Run the block with the earlier run's stage folders under ``outdir`` moved aside (see module docstring).

    With ``resume``, the checkpoint ``model/checkpoint.pt`` is copied back in so that training continues.
    """
    outdir = Path(outdir)
    previous = outdir / PREVIOUS
    if previous.is_dir() and not resume:
        log.info("putting back the earlier outputs left aside in %s by an interrupted run", previous)
        _restore(outdir, previous)
    if not previous.is_dir() and _stage_dirs(outdir):
        _move(_stage_dirs(outdir), outdir, previous)
        if resume and (previous / CHECKPOINT).is_file():
            (outdir / CHECKPOINT).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(previous / CHECKPOINT, outdir / CHECKPOINT)
    try:
        yield
    except KeyboardInterrupt:
        raise  # stopped by a signal: keep the new checkpoint for --resume, and the earlier outputs aside
    except BaseException:
        if previous.is_dir():
            _restore(outdir, previous)
            log.warning("the run failed: the earlier outputs in %s are back as they were", outdir)
        raise
    if previous.is_dir():
        shutil.rmtree(previous)
