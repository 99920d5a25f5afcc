"""Train the model on two demo samples (a copy of the session's demo run's preprocess/ and priors/)."""

from __future__ import annotations

import shutil
from pathlib import Path

from crossomics.io.layout import Layout
from crossomics.io.samplesheet import read_samplesheet
from crossomics.model.train_step import run_train

SAMPLES = ("rna_a", "atac_a")


def sheet_for(demo_data: Path, root: Path) -> Path:
    """The demo samplesheet restricted to SAMPLES, with absolute file paths."""
    import pandas as pd

    table = pd.read_csv(demo_data / "samplesheet.csv", dtype=str, keep_default_na=False)
    table = table[table["sample"].isin(SAMPLES)].assign(
        file=lambda t: [str(demo_data / f) for f in t["file"]]
    )
    sheet = root / "samplesheet.csv"
    table.to_csv(sheet, index=False)
    return sheet


def copy_inputs(demo_run: Path, dest: Path) -> Path:
    """SAMPLES' preprocessed files and their anchors, copied from the demo run into ``dest``."""
    for sub in ("preprocess", "priors"):
        (dest / sub).mkdir(parents=True, exist_ok=True)
        for f in (demo_run / sub).iterdir():
            if any(f.name.startswith(s) for s in SAMPLES) or f.name == "anchors_rna_a__atac_a.tsv":
                shutil.copy(f, dest / sub / f.name)
    return dest


def train_demo(demo_data: Path, demo_run: Path, dest: Path, **kw) -> dict:
    """``run_train`` on SAMPLES in ``dest`` (CPU, seed 0, 3 epochs per stage); ``kw`` go to it."""
    out = copy_inputs(demo_run, dest)
    rows = read_samplesheet(sheet_for(demo_data, dest))
    return run_train(rows, Layout(out), **{"device": "cpu", "seed": 0, "max_epochs": 3, **kw})
