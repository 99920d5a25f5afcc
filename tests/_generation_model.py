"""One small trained model on the demo, built once per test session (shared by the generation tests).

The demo (600 cells: rna_a + atac_a paired, rna_b + adt_b paired) goes through ``crossomics qc`` and
``crossomics preprocess``, then ``run_train`` with shared barcodes as anchors for 5 epochs per stage. Such a
model already translates RNA to protein well; its RNA decoder is still close to the average profile, so tests
hold RNA targets only to bars a few-epoch model reaches.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import anndata as ad
from conftest import invoke

from crossomics.io.layout import Layout
from crossomics.io.samplesheet import SampleRow, read_samplesheet

N_CELLS = 600
MAX_EPOCHS = 5
_BUILT: dict[Path, DemoModel] = {}


@dataclass(frozen=True)
class DemoModel:
    """Paths of the trained demo run and its samplesheet rows."""

    root: Path
    rows: list[SampleRow]

    @property
    def layout(self) -> Layout:
        return Layout(self.root / "out")

    @property
    def model_dir(self) -> Path:
        return self.root / "out" / "model"

    @property
    def data(self) -> Path:
        return self.root / "data"

    def preprocessed(self, sample: str) -> ad.AnnData:
        return ad.read_h5ad(self.root / "out" / "preprocess" / f"{sample}.h5ad")


def demo_model(tmp_path_factory) -> DemoModel:
    """Build the trained demo run under the session's temporary folder (once)."""
    root = tmp_path_factory.getbasetemp() / "generation_demo_model"
    if root in _BUILT:
        return _BUILT[root]
    from crossomics.model.train_step import run_train

    result = invoke("simulate-demo", "--outdir", root / "data", "--n-cells", N_CELLS)
    assert result.exit_code == 0, result.output
    rows = read_samplesheet(root / "data" / "samplesheet.csv")
    out = root / "out"
    for row in rows:
        common = ("--sample", row.sample, "--modality", row.modality, "--outdir", out)
        assert invoke("qc", "--input", row.file, *common).exit_code == 0
        result = invoke("preprocess", "--input", out / "qc" / f"{row.sample}.qc.h5ad", *common)
        assert result.exit_code == 0, result.output
    run_train(rows, Layout(out), max_epochs=MAX_EPOCHS, device="cpu", paired=True, evaluate_metrics=False)
    _BUILT[root] = DemoModel(root, rows)
    return _BUILT[root]
