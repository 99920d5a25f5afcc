"""Shared by the perturbation tests: the demo's RNA + ATAC pair, preprocessed, and a model on it."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import anndata as ad
import numpy as np
import torch

from crossomics.datasets.synthetic import write_demo
from crossomics.io.layout import Layout
from crossomics.io.read import read_matrix
from crossomics.model import CrossModel
from crossomics.pp.features import run_preprocess
from crossomics.pp.qc import run_qc
from crossomics.settings import seed_everything
from crossomics.train import AnchorPairs, TrainConfig

SAMPLES = {"rna_a": "rna", "atac_a": "atac"}


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run torch on one thread (on a shared 2-core runner, two spinning threads are ~10x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def prepare_demo(root: Path, *, n_cells: int, n_top_genes: int, seed: int = 0) -> dict:
    """Demo files under ``root/data``; QC and preprocessing of rna_a and atac_a under ``root/out``."""
    write_demo(root / "data", n_cells=n_cells, seed=seed)
    layout = Layout(root / "out")
    for sample, modality in SAMPLES.items():
        run_qc(read_matrix(root / "data" / f"{sample}.h5ad", modality=modality), sample, modality, layout)
        top = n_top_genes if modality == "rna" else None
        run_preprocess(
            ad.read_h5ad(layout.qc_h5ad(sample)), sample, modality, layout, n_top_features=top, seed=seed
        )
    return {
        "root": root,
        "truth": json.loads((root / "data" / "demo_truth.json").read_text()),
        "rna": layout.preprocessed("rna_a"),
        "atac": layout.preprocessed("atac_a"),
        "gmt": root / "data" / "genesets.gmt",
    }


def build_model(demo: dict, *, epochs: int, seed: int = 0) -> Path:
    """A model on rna_a + atac_a (shared barcodes as anchors); ``epochs=0`` leaves it untrained."""
    adatas = {s: ad.read_h5ad(demo[m]) for s, m in SAMPLES.items()}
    seed_everything(seed)
    model = CrossModel.from_preprocessed(adatas, dict(SAMPLES))
    if epochs:
        rna, atac = adatas["rna_a"], adatas["atac_a"]
        shared = rna.obs_names.intersection(atac.obs_names)
        pairs = AnchorPairs(
            "rna_a",
            "atac_a",
            rna.obs_names.get_indexer(shared),
            atac.obs_names.get_indexer(shared),
            np.ones(len(shared)),
        )
        config = TrainConfig(max_epochs_pretrain=epochs, max_epochs_align=epochs, seed=seed)
        model.fit(adatas, [pairs], config=config, device="cpu")
    return model.save(demo["root"] / "out" / "model")
