"""CrossModel on the demo: training writes the layout, seeds reproduce, save/load round-trips, checksums hold."""

from __future__ import annotations

import json
import shutil
import time

import anndata as ad
import numpy as np
import pytest
from _train_demo import train_demo

from crossomics._clock import PartClock
from crossomics.errors import InputError
from crossomics.model import CrossModel
from crossomics.runner import stage_line


def test_train_writes_model_latents_mudata_and_metrics(demo_run):
    for sample in ("rna_a", "atac_a", "rna_b", "adt_b"):
        lat = ad.read_h5ad(demo_run / "integration" / f"{sample}.latent.h5ad")
        pre = ad.read_h5ad(demo_run / "preprocess" / f"{sample}.h5ad")
        assert list(lat.obs_names) == list(pre.obs_names)
        assert lat.obsm["X_crossomics"].shape[0] == pre.n_obs and lat.obsm["X_umap"].shape == (pre.n_obs, 2)
    import mudata as md

    mdata = md.read_h5mu(demo_run / "integration" / "crossomics.h5mu")
    assert set(mdata.mod) == {"rna_a", "atac_a", "rna_b", "adt_b"}
    for f in ("weights.pt", "model.json", "history.csv", "preprocess.npz"):
        assert (demo_run / "model" / f).is_file()
    metrics = json.loads((demo_run / "metrics" / "integration.json").read_text())
    # paired demo cells are matched far better than chance (0.5) after a few epochs
    assert metrics["foscttm__rna_a__atac_a"] < 0.3
    hist = (demo_run / "model" / "history.csv").read_text().splitlines()
    assert "val_total" in hist[0] and len(hist) > 2
    # the batch size actually used is recorded (the default, None, is resolved from the sample sizes)
    assert json.loads((demo_run / "model" / "model.json").read_text())["train_config"]["batch_size"] in (256, 512)


def test_run_records_where_train_and_generate_spent_their_time(demo_run):
    """params.json splits the train and generate stages into parts (benchmarks leave out the run's own scoring)."""
    info = json.loads((demo_run / "pipeline_info" / "params.json").read_text())
    parts, stages = info["stage_part_seconds"], info["stage_seconds"]
    assert set(parts["train"]) == {"fit", "integration", "umap", "simulation_prior", "metrics"}
    assert set(parts["generate"]) == {"generate", "fidelity"}
    for stage in ("train", "generate"):
        assert all(v >= 0 for v in parts[stage].values())
        assert sum(parts[stage].values()) <= stages[stage] + 0.05  # disjoint parts of the stage's wall time
    assert parts["train"]["fit"] > parts["train"]["simulation_prior"]


def test_priors_line_counts_the_mnn_pairs_training_uses(demo_run):
    """The priors stage names every sample pair's MNN pairs (all train the model) and its flagged anchors."""
    import pandas as pd

    lines = (demo_run.parent / "stage_lines.txt").read_text().splitlines()
    line = next(x for x in lines if x.startswith("[priors]"))
    assert "MNN pairs (anchors, score >= 0.05): " in line, line
    paths = sorted((demo_run / "priors").glob("anchors_*__*.tsv"))
    assert len(paths) >= 3
    for path in paths:
        table = pd.read_csv(path, sep="\t")
        a, b = path.stem.removeprefix("anchors_").split("__")
        flagged = int(table["anchor"].sum())
        assert 0 < flagged < len(table)
        assert f"{a}-{b} {len(table):,} ({flagged:,})" in line, line


def test_stage_line_shows_the_parts_of_a_stage():
    parts = {"fit": 31.04, "umap": 3.61}
    assert stage_line("train", "40 epochs", 38.56, parts) == "[train] 40 epochs (38.6 s: fit 31.0, umap 3.6)"
    assert stage_line("priors", "3 anchors", 1.66, {}) == "[priors] 3 anchors (1.7 s)"


def test_part_clock_adds_up_blocks_also_when_they_raise():
    clock = PartClock()
    for _ in range(2):
        with clock.part("a"):
            time.sleep(0.01)
    with pytest.raises(ValueError), clock.part("b"):
        raise ValueError
    assert clock.seconds["a"] >= 0.02 and "b" in clock.seconds
    assert clock.rounded(1) == {"a": round(clock.seconds["a"], 1), "b": round(clock.seconds["b"], 1)}


def test_same_seed_same_latent_and_load_roundtrip(demo_data, demo_run, tmp_path):
    train_demo(demo_data, demo_run, tmp_path / "a", evaluate_metrics=False)
    train_demo(demo_data, demo_run, tmp_path / "b", evaluate_metrics=False)
    za = ad.read_h5ad(tmp_path / "a" / "integration" / "atac_a.latent.h5ad").obsm["X_crossomics"]
    zb = ad.read_h5ad(tmp_path / "b" / "integration" / "atac_a.latent.h5ad").obsm["X_crossomics"]
    assert np.abs(za - zb).max() <= 1e-5
    model = CrossModel.load(tmp_path / "a" / "model")
    pre = ad.read_h5ad(tmp_path / "a" / "preprocess" / "atac_a.h5ad")
    # the written latents come from the encoder inputs kept by fit: the same as encoding the cells again
    np.testing.assert_allclose(model.get_latent(pre, "atac"), za, atol=1e-5)
    with pytest.raises(InputError, match="no training cells"):
        model.training_latent("atac")


def test_tampered_or_foreign_model_is_refused(demo_run, tmp_path):
    model_dir = tmp_path / "model"
    shutil.copytree(demo_run / "model", model_dir)
    with open(model_dir / "weights.pt", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(InputError, match="SHA-256"):
        CrossModel.load(model_dir)
    shutil.copy(demo_run / "model" / "weights.pt", model_dir / "weights.pt")
    manifest = json.loads((model_dir / "model.json").read_text())
    manifest["format_version"] = 99
    (model_dir / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="format 99|model format 99"):
        CrossModel.load(model_dir)
    with pytest.raises(InputError, match="not a crossomics model folder"):
        CrossModel.load(tmp_path)


@pytest.mark.parametrize("library", [None, 50.0, "per-cell"])
@pytest.mark.parametrize("n_cells", [1, 7])
def test_decode_hands_torch_writable_arrays(library, n_cells, monkeypatch):
    """torch warns once per process ("The given NumPy array is not writable"): check every array it gets."""
    import torch

    from crossomics.model.cross_model import DomainInfo
    from crossomics.module.network import Architecture

    read_only: list[tuple] = []
    real = torch.from_numpy

    def from_numpy(a):
        if not a.flags.writeable:
            read_only.append(a.shape)
        return real(a)

    monkeypatch.setattr(torch, "from_numpy", from_numpy)
    info = DomainInfo("rna", "rna", "nb", [f"g{i}" for i in range(20)], {}, n_input=6, library_median=100.0)
    model = CrossModel([info], arch=Architecture(n_latent=4, n_joint=3, n_hidden=8, aligner_hidden=8))
    z = np.random.default_rng(0).normal(size=(n_cells, 3)).astype(np.float32)
    lib = np.full(n_cells, 50.0, np.float32) if library == "per-cell" else library
    means = model.decode(z, "rna", library=lib)
    assert read_only == []
    np.testing.assert_allclose(means.sum(1), 100.0 if library is None else 50.0, rtol=1e-4)


def test_threads_reach_torch(demo_data, demo_run, tmp_path):
    import torch

    before = torch.get_num_threads()
    try:
        train_demo(demo_data, demo_run, tmp_path, evaluate_metrics=False, max_epochs=1, threads=2)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_training_reduction_is_the_stored_one_or_the_same_projection(demo_run, monkeypatch):
    """Training takes each sample's ``obsm["X_reduced"]``; without it, projecting the counts gives the same."""
    from crossomics.io.read import read_preprocessed

    samples = {"rna_a": "rna", "atac_a": "atac", "rna_b": "rna", "adt_b": "adt"}
    adatas = {s: read_preprocessed(demo_run / "preprocess" / f"{s}.h5ad") for s in samples}
    model = CrossModel.from_preprocessed(adatas, samples)
    with monkeypatch.context() as patch:
        patch.setattr(model, "reduced", lambda *a: pytest.fail("projected although X_reduced was stored"))
        _, stored = model.training_data(adatas)
    for adata in adatas.values():
        del adata.obsm["X_reduced"]
    _, projected = model.training_data(adatas)
    for s in samples:
        assert stored[s].dtype == np.float32
        np.testing.assert_array_equal(stored[s], projected[s])


def test_stored_reduction_only_for_the_same_preprocessing(demo_run):
    """Another sample's reduction (its own fit) or raw counts are never taken for this domain's."""
    from crossomics.io.read import read_preprocessed
    from crossomics.model.inputs import stored_reduction

    a = read_preprocessed(demo_run / "preprocess" / "rna_a.h5ad")
    b = read_preprocessed(demo_run / "preprocess" / "rna_b.h5ad")
    params_a = CrossModel.load(demo_run / "model").domains["rna_a"].preprocess
    np.testing.assert_array_equal(stored_reduction(a, params_a), a.obsm["X_reduced"])
    assert stored_reduction(b, params_a) is None
    raw = ad.AnnData(X=a.layers["counts"], obs=a.obs, var=a.var)
    assert stored_reduction(raw, params_a) is None
