"""The benchmark scripts' pure parts: the scale simulator, stage-memory bookkeeping and the export to score.py."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from crossomics._keys import KEYS

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _load(name: str):
    """A bench/ script as a module (bench/ is not a package; compare_peers imports scale beside it)."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scale_simulator_declared_shapes_sparse_counts():
    from crossomics.datasets.scale import simulate_scale

    data = simulate_scale(500, n_genes=400, n_peaks=6_000, seed=3, chunk_cells=128)
    assert data.rna.shape == (500, 400)
    assert data.atac.shape == (500, 6_000)
    for a in (data.rna, data.atac):
        assert sp.issparse(a.X) and a.X.format == "csr" and a.X.dtype == np.int32
        assert a.X.data.min() > 0  # explicit zeros would waste memory at scale
    assert data.rna.obs_names.equals(data.atac.obs_names)
    assert data.atac.var_names.is_unique
    var = data.atac.var.sort_values([KEYS.chrom, KEYS.chrom_start])
    for _, peaks in var.groupby(KEYS.chrom):
        assert (peaks[KEYS.chrom_start].to_numpy()[1:] >= peaks[KEYS.chrom_end].to_numpy()[:-1]).all()
    # the counts carry the cell types (RNA and ATAC alike): per-type means differ beyond noise
    for a in (data.rna, data.atac):
        x = a.X.multiply(1e3 / a.X.sum(axis=1)).tocsr()
        means = np.vstack(
            [
                np.asarray(x[(a.obs[KEYS.cell_type] == t).to_numpy()].mean(axis=0))
                for t in a.obs[KEYS.cell_type].cat.categories
            ]
        )
        assert np.corrcoef(means).min() < 0.95


def test_scale_simulator_seeded_and_chunk_free():
    from crossomics.datasets.scale import simulate_scale

    a = simulate_scale(300, n_genes=400, n_peaks=5_000, seed=1)
    b = simulate_scale(300, n_genes=400, n_peaks=5_000, seed=1)
    assert (a.atac.X != b.atac.X).nnz == 0 and (a.rna.X != b.rna.X).nnz == 0
    with pytest.raises(ValueError, match="n_peaks"):
        simulate_scale(50, n_genes=400, n_peaks=100)


def test_write_scale_files(tmp_path):
    from crossomics.datasets.scale import write_scale
    from crossomics.io.samplesheet import read_samplesheet

    written = write_scale(tmp_path, n_cells=200, n_genes=400, n_peaks=5_000, seed=0)
    rows = read_samplesheet(written["samplesheet"])
    assert [(r.sample, r.modality) for r in rows] == [("rna", "rna"), ("atac", "atac")]
    atac = ad.read_h5ad(written["atac"])
    assert atac.shape == (200, 5_000) and sp.issparse(atac.X)
    assert written["gtf"].read_text().count("\tgene\t") == 400
    assert written["gmt"].read_text().strip()


def test_stage_lines_of_crossomics_run_are_parsed():
    """scale.py reads the seconds of the stages a killed run finished from the lines `crossomics run` prints."""
    from crossomics.runner import stage_line

    scale = _load("scale")
    parts = {"fit": 31.04, "umap": 3.61}
    for line, stage, sec in (
        (
            "\r  50%|#####     | [train] 40 epochs; {'foscttm': 0.031} (38.6 s: fit 31.0, umap 3.6)",
            "train",
            38.6,
        ),
        (stage_line("train", "40 epochs", 38.56, parts), "train", 38.6),
        (stage_line("qc+preprocess", "cells kept: rna 20/20", 1.94, {}), "qc+preprocess", 1.9),
    ):
        m = scale.STAGE_LINE.search(line.strip())
        assert m and m["stage"] == stage and float(m["sec"]) == sec
    assert scale.STAGE_LINE.search("[train] epoch 3 (loss 1.2)") is None


def test_stage_peaks_windows_and_high_water_mark():
    scale = _load("scale")
    samples = [
        (0.5, 100.0, 100.0),
        (1.0, 300.0, 300.0),
        (1.5, 200.0, 900.0),
        (2.5, 250.0, 900.0),
        (3.5, 400.0, 900.0),
    ]
    marks = [(1.2, "validate"), (2.0, "preprocess"), (3.0, "priors"), (4.0, "train")]
    peaks = scale.stage_peaks(samples, marks)
    # the kernel's high-water mark rose between samples during "preprocess": that stage peaked at 900
    assert peaks == {"validate": 300.0, "preprocess": 900.0, "priors": 250.0, "train": 400.0}
    table = scale.table(
        [
            {
                "n_cells": 1000,
                "status": "ok",
                "stage_seconds": {"train": 12.5},
                "stage_peak_mib": {"train": 2048},
                "wall_s": 20.0,
                "cpu_s": 30.0,
                "peak_rss_mib": 3072,
            }
        ]
    )
    assert "| 1,000 | ok | 12.5 | 2.0 | 20.0 | 30.0 | 3.0 |" in table


def test_export_for_score_matches_peer_format(demo_data, demo_run, tmp_path):
    compare = _load("compare_peers")
    rna_in, atac_in = demo_data / "rna_a.h5ad", demo_data / "atac_a.h5ad"
    atac_cells = ad.read_h5ad(atac_in).obs_names[::-1][:50]  # generated cells in another order, a subset
    gen = ad.AnnData(
        X=np.random.default_rng(0).gamma(1.0, size=(50, 30)).astype(np.float32),
        obs=pd.DataFrame(index=atac_cells),
        var=pd.DataFrame(index=[f"g{i}" for i in range(30)]),
    )
    gen_path = tmp_path / "gen.h5ad"
    gen.write_h5ad(gen_path)
    notes = compare.export_for_score(
        demo_run, rna_in, atac_in, tmp_path, generated=gen_path, rna_sample="rna_a", atac_sample="atac_a"
    )
    emb = np.load(tmp_path / "embeddings.npz")
    for key, path in (("rna", rna_in), ("atac", atac_in)):
        cells = ad.read_h5ad(path).obs_names
        assert emb[f"{key}_obs"].tolist() == cells.tolist()  # score.py refuses any other order
        assert emb[key].shape[0] == len(cells) and np.isfinite(emb[key]).all()
        assert np.abs(emb[key]).sum(axis=1).min() > 0  # every cell embedded, QC-removed ones included
    latent = ad.read_h5ad(demo_run / "integration" / "atac_a.latent.h5ad")
    i = latent.obs_names.get_loc(emb["atac_obs"][0])
    np.testing.assert_allclose(emb["atac"][0], latent.obsm[KEYS.latent][i], rtol=1e-6)
    cross = np.load(tmp_path / "cross_rna_from_atac.npz")
    assert cross["X"].shape == (50, 30) and cross["obs_names"].tolist() == atac_cells.tolist()
    assert str(cross["space"]) == "linear"
    assert any("cross generation" in n for n in notes)
    # the peers' scorer reads it: FOSCTTM on the paired demo cells is a fraction
    sys.path.insert(0, str(compare.PEERS))
    from score import foscttm

    shared = pd.Index(emb["rna_obs"]).intersection(pd.Index(emb["atac_obs"]))
    f = foscttm(
        emb["rna"][pd.Index(emb["rna_obs"]).get_indexer(shared)],
        emb["atac"][pd.Index(emb["atac_obs"]).get_indexer(shared)],
    )
    assert 0.0 <= f < 0.5


def test_ratio_rows():
    compare = _load("compare_peers")
    rows = [
        {"run": "crossomics", "total_s": 10.0, "foscttm": 0.1},
        {"run": "crossomics_t2", "total_s": 9.0},
        {"run": "scglue", "total_s": 100.0, "foscttm": 0.2},
        {"run": "crossomics_after", "total_s": 12.0, "foscttm": 0.1},  # --bracket: the rerun after the peers
    ]
    assert compare.ratio_rows(rows) == [{"run": "crossomics / scglue", "total_s": 0.1, "foscttm": 0.5}]
    assert compare.ratio_rows(rows, ours="crossomics_after") == [
        {"run": "crossomics_after / scglue", "total_s": 0.12, "foscttm": 0.5}
    ]


def test_same_work_seconds_leave_out_only_crossomics_own_scoring():
    compare = _load("compare_peers")
    parts = {
        "train": {"fit": 30.0, "integration": 0.5, "umap": 3.0, "simulation_prior": 0.7, "metrics": 2.5},
        "generate": {"generate": 0.6, "fidelity": 2.2},
    }
    assert compare.same_work_seconds(50.0, parts) == 41.6  # 50 - (3.0 + 0.7 + 2.5 + 2.2)
    assert compare.same_work_seconds(340.0, {}) == 340.0  # a peer: nothing to leave out
    assert compare.same_work_seconds(None, parts) is None


def test_process_seconds_count_imports_for_every_tool(tmp_path):
    """Peers time themselves after their imports; the table's process_s is the whole child process for all."""
    compare = _load("compare_peers")
    assert compare.process_seconds(tmp_path, {"run": "crossomics_after", "total_s": 41.0}) == 41.0
    assert compare.process_seconds(tmp_path, {"run": "scglue", "total_s": 340.0}) is None  # no process.json
    (tmp_path / "process.json").write_text('{"status": "ok", "wall_s": 344.64}')
    assert compare.process_seconds(tmp_path, {"run": "scglue", "total_s": 340.0}) == 344.6


def test_gpu_bundle_names_requirements_the_device_lacks(tmp_path):
    """gpu_bundle.py stops on a wheel requirement that neither the bundle nor the device image provides; extras and
    requirements whose markers exclude Python 3.12 on Linux are not needed there."""
    import zipfile

    bundle = _load("gpu_bundle")

    def wheel(name: str, *requires: str) -> Path:
        path = tmp_path / f"{name}-1.0-py3-none-any.whl"
        with zipfile.ZipFile(path, "w") as zf:
            lines = [f"Name: {name}", "Version: 1.0", *(f"Requires-Dist: {r}" for r in requires)]
            zf.writestr(f"{name}-1.0.dist-info/METADATA", "\n".join(lines) + "\n")
        return path

    ok = wheel(
        "anndata",
        "numpy>=1.24",
        "Scverse_Misc>=0.0.3",
        "pytest; extra == 'test'",
        "tomli; python_version < '3.11'",
    )
    lacking = wheel("scanpy", "pandas", "fancy-plotting>=2")
    assert bundle.unmet_requirements([ok]) == []
    assert bundle.unmet_requirements([ok, lacking]) == [f"{lacking.name} needs fancy-plotting>=2"]


def test_no_hard_coded_cuda():
    """The GPU path is the CPU path with another device: no source file pins tensors to CUDA by hand."""
    src = Path(__file__).resolve().parents[1] / "src" / "crossomics"
    offenders = [
        f"{p.relative_to(src)}:{i}"
        for p in src.rglob("*.py")
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if ".cuda(" in line and not line.lstrip().startswith("#")
    ]
    assert not offenders, offenders


def test_ceiling_oracle_places_right_cells_on_their_partner_and_wrong_ones_in_the_predicted_type():
    ceiling = _load("snare_ceiling")
    rng = np.random.default_rng(0)
    labels = np.repeat(np.array(["a", "b", "c"]), 20)
    z = rng.normal(size=(60, 4)) + np.repeat(np.eye(4)[:3] * 10, 20, axis=0)
    predicted = labels.copy()
    predicted[[0, 25, 50]] = ["b", "c", "a"]
    placed = ceiling.place_by_prediction(z, labels, predicted, seed=0)
    right = predicted == labels
    assert np.array_equal(placed[right], z[right])
    for i in np.flatnonzero(~right):  # on some RNA cell of the predicted type, never its own
        matches = np.flatnonzero((z == placed[i]).all(axis=1))
        assert matches.size == 1 and labels[matches[0]] == predicted[i] != labels[i]
    figures = ceiling.score(z, z, labels, seed=0)  # perfect alignment of well separated types
    assert figures["foscttm"] == 0.0 and figures["ari_leiden"] == pytest.approx(1.0)
    assert ceiling.score(z, placed, labels, seed=0)["foscttm"] > 0
