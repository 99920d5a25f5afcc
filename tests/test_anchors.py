"""Anchors: linear algebra, MNN scoring, shared features, protein table, pairs, SNARE, ECCITE, CLI."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import assert_user_error

from crossomics.errors import InputError
from crossomics.priors._linalg import Standardised, randomized_svd
from crossomics.priors.anchors import anchor_metrics, linkable_pairs, shared_features
from crossomics.priors.mnn import cca, find_anchors
from crossomics.priors.protein_genes import antibody_keys, map_features, read_feature_mapping


def test_randomized_svd_matches_numpy():
    rng = np.random.default_rng(0)
    low_rank = (
        rng.standard_normal((300, 8)) @ np.diag([50, 40, 30, 20, 10, 5, 3, 2]) @ rng.standard_normal((8, 200))
    )
    matrix = low_rank + 0.01 * rng.standard_normal((300, 200))
    u, s, v = randomized_svd(lambda m: matrix @ m, lambda n: matrix.T @ n, matrix.shape, 5, seed=1)
    u_np, s_np, vt_np = np.linalg.svd(matrix, full_matrices=False)
    np.testing.assert_allclose(s, s_np[:5], rtol=1e-8)
    np.testing.assert_allclose(np.abs(np.sum(u * u_np[:, :5], axis=0)), 1.0, atol=1e-8)
    np.testing.assert_allclose(u @ np.diag(s) @ v.T, u_np[:, :5] * s_np[:5] @ vt_np[:5], atol=1e-8)


def test_standardised_view_and_cca_match_dense():
    rng = np.random.default_rng(1)
    xa = sp.csr_matrix(rng.poisson(1.0, (60, 12)).astype(np.float64))
    xb = sp.csr_matrix(rng.poisson(2.0, (50, 12)).astype(np.float64))
    dense = xa.toarray()
    z = (dense - dense.mean(axis=0)) / dense.std(axis=0)
    view = Standardised.of(xa)
    m = rng.standard_normal((12, 3))
    np.testing.assert_allclose(view.dot(m), z @ m, atol=1e-10)
    n = rng.standard_normal((60, 2))
    np.testing.assert_allclose(view.tdot(n), z.T @ n, atol=1e-10)
    emb_a, emb_b = cca(xa, xb, n_comps=4, seed=0)
    zb = (xb.toarray() - xb.toarray().mean(axis=0)) / xb.toarray().std(axis=0)
    u, _, vt = np.linalg.svd(z @ zb.T)
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    # the same subspace, rows L2-normalised: equal up to the sign of each component
    signs = np.sign(np.sum(emb_a * unit(u[:, :4]), axis=0))
    np.testing.assert_allclose(emb_a * signs, unit(u[:, :4]), atol=1e-6)
    np.testing.assert_allclose(emb_b * signs, unit(vt[:4].T), atol=1e-6)


def _clusters(n_per: int, rate: float, seed: int) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Three cell types with distinct marker genes; returns counts, own-space coordinates and labels."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), n_per)
    profile = np.full((3, 30), 0.2)
    for t in range(3):
        profile[t, t * 10 : t * 10 + 10] = 3.0
    counts = rng.poisson(profile[labels] * rate)
    own = np.eye(3)[labels] * 4 + rng.standard_normal((len(labels), 3))
    return sp.csr_matrix(counts.astype(np.float32)), own, labels


def test_find_anchors_links_matching_types():
    xa, own_a, la = _clusters(150, 1.0, 2)
    xb, own_b, lb = _clusters(120, 0.5, 3)
    norm = lambda x: sp.csr_matrix(np.log1p(x.toarray()))  # noqa: E731
    found = find_anchors(norm(xa), norm(xb), own_a, own_b, k=10, k_score=15, k_cross=10, n_comps=5)
    precision = np.mean(la[found["cell_a"]] == lb[found["cell_b"]])
    assert len(found) > 300 and precision > 0.97
    assert found["score"].is_monotonic_decreasing and found["score"].between(0.05, 1).all()
    strict = find_anchors(
        norm(xa), norm(xb), own_a, own_b, k=10, k_score=15, k_cross=10, n_comps=5, min_score=0.1
    )
    assert 0 < len(strict) < len(found)


def test_protein_table_covers_eccite_panel(shared_data):
    adt = ad.read_h5ad(shared_data / "eccite_pbmc_ctrl_adt.h5ad")
    mapped = map_features(adt.var_names, read_feature_mapping(), warn=False)
    genes = mapped.groupby("feature")["gene"].apply(set)
    unmapped = set(adt.var_names) - set(genes.index)
    assert unmapped == {"IgG1", "IgG2a"}  # isotype controls only
    assert genes["CD3"] == {"CD3E", "CD3D", "CD3G"}
    assert genes["CD45RA"] == genes["B220 (CD45R)"] == {"PTPRC"}
    assert genes["PD-L1 (CD274)"] == genes["B7-H1 (PD-L1)"] == {"CD274"}
    assert genes["IL7Ralpha (CD127)"] == {"IL7R"} and genes["PD1 (CD279)"] == {"PDCD1"}
    assert genes["HLA-A,B,C"] == {"HLA-A", "HLA-B", "HLA-C"}
    for name in ("CD3_TotalSeqB", "anti-human CD3", "Hu.CD3", "CD3-ADT"):
        assert antibody_keys(name)[0] == "CD3"


def test_user_mapping_files(tmp_path):
    good = tmp_path / "map.tsv"
    good.write_text("feature\tgenes\n# comment\nMyProt\tGENE1, GENE2\n")
    assert read_feature_mapping(good).values.tolist() == [["MyProt", "GENE1"], ["MyProt", "GENE2"]]
    bad = tmp_path / "bad.tsv"
    bad.write_text("just one column\n")
    with pytest.raises(InputError, match="bad.tsv: needs a header line"):
        read_feature_mapping(bad)


def test_shared_features_through_the_antibody_table(shared_data):
    rna = ad.read_h5ad(shared_data / "eccite_pbmc_ctrl_rna.h5ad")
    adt = ad.read_h5ad(shared_data / "eccite_pbmc_ctrl_adt.h5ad")
    xa, xb, names = shared_features(rna, adt, mapping=read_feature_mapping())
    assert "CD3" in names and "IgG1" not in names and xa.shape == (500, len(names)) == xb.shape
    # the RNA side of CD3 is the sum of the normalised CD3E, CD3D and CD3G counts
    counts = rna.X.toarray().astype(np.float64)
    norm = counts / counts.sum(axis=1, keepdims=True) * 1e4
    cd3 = norm[:, rna.var_names.get_indexer(["CD3E", "CD3D", "CD3G"])].sum(axis=1)
    np.testing.assert_allclose(xa[:, names.get_loc("CD3")].toarray().ravel(), np.log1p(cd3), rtol=1e-5)


def test_linkable_pairs():
    three = {"r": "rna", "a": "atac", "p": "adt"}
    assert linkable_pairs(three, gene_activity={"a"}) == [("r", "a"), ("r", "p"), ("a", "p")]
    assert linkable_pairs(three) == [("r", "p")]
    batches = {"a1": "atac", "a2": "atac", "m": "methylation", "r": "rna"}
    assert linkable_pairs(batches) == [("a1", "a2")]
    assert linkable_pairs(batches, mapped={"m"}) == [("a1", "a2"), ("r", "m")]


def test_anchor_metrics():
    anchors = pd.DataFrame({"cell_a": ["x", "y", "y"], "cell_b": ["u", "v", "w"], "score": [0.3, 0.2, 0.1]})
    obs_a = pd.DataFrame({"cell_type": ["T", "B"]}, index=["x", "y"])
    obs_b = pd.DataFrame({"cell_type": ["T", "T", "B"]}, index=["u", "v", "w"])
    metrics = anchor_metrics(anchors, obs_a, obs_b, 1.234)
    assert metrics == {
        "n_anchors": 3,
        "n_cells_a": 2,
        "n_cells_b": 3,
        "seconds": 1.23,
        "precision": pytest.approx(2 / 3),
        "cell_types_covered": 1.0,
        "n_cell_types": 2,
    }
    assert "precision" not in anchor_metrics(anchors, obs_a[[]], obs_b, 1.0)


def test_snare_anchors_rna_vs_atac(shared_data, tmp_path, run_cli):
    data = shared_data
    out = tmp_path / "out"
    atac = data / "snare_chen2019_mouse_cortex_atac.h5ad"
    result = run_cli(
        "gene-activity",
        "--input",
        atac,
        "--sample",
        "snare_atac",
        "--annotation",
        data / "annotation" / "mm10_genes.gtf",
        "--outdir",
        out,
    )
    assert result.exit_code == 0, result.output
    result = run_cli(
        "anchors",
        "--input-a",
        data / "snare_chen2019_mouse_cortex_rna.h5ad",
        "--sample-a",
        "snare_rna",
        "--modality-a",
        "rna",
        "--input-b",
        atac,
        "--sample-b",
        "snare_atac",
        "--modality-b",
        "atac",
        "--features-b",
        out / "priors" / "snare_atac.gene_activity.h5ad",
        "--outdir",
        out,
    )
    assert result.exit_code == 0, result.output
    pairs = pd.read_csv(out / "priors" / "anchors_snare_rna__snare_atac.tsv", sep="\t")
    assert pairs.columns.tolist() == ["cell_a", "cell_b", "score", "anchor"]
    anchors = pairs[pairs["anchor"]]
    assert (anchors["score"] >= 0.05).all() and (pairs.loc[~pairs["anchor"], "score"] < 0.05).all()
    line = f"MNN pairs (anchors, score >= 0.05): snare_rna-snare_atac {len(pairs):,} ({len(anchors):,})"
    assert line in result.output, result.output
    metrics = json.loads((out / "metrics" / "anchors.json").read_text())["snare_rna__snare_atac"]
    print(f"SNARE anchors (10,309 x 10,309): {metrics}")
    assert metrics["n_anchors"] == len(anchors) >= 1000
    assert metrics["n_mnn_pairs"] == len(pairs) > 10 * len(anchors)
    assert metrics["precision"] >= 0.70
    assert metrics["cell_types_covered"] >= 0.5
    assert metrics["seconds"] < 60


def test_eccite_anchors_rna_vs_adt(shared_data, tmp_path, run_cli):
    rna = shared_data / "eccite_pbmc_ctrl_rna.h5ad"
    adt = shared_data / "eccite_pbmc_ctrl_adt.h5ad"
    args = [
        "--input-a",
        rna,
        "--modality-a",
        "rna",
        "--input-b",
        adt,
        "--modality-b",
        "ADT",
        "--outdir",
        tmp_path,
    ]
    assert run_cli("anchors", *args, "--sample-a", "e_rna", "--sample-b", "e_adt").exit_code == 0
    assert run_cli("anchors", *args, "--sample-a", "e_rna2", "--sample-b", "e_adt", "--k", 10).exit_code == 0
    anchors = pd.read_csv(tmp_path / "priors" / "anchors_e_rna__e_adt.tsv", sep="\t")
    metrics = json.loads((tmp_path / "metrics" / "anchors.json").read_text())
    assert set(metrics) == {"e_rna__e_adt", "e_rna2__e_adt"}  # runs accumulate
    assert "precision" not in metrics["e_rna__e_adt"]  # no labels in ECCITE
    # paired cells: an anchor on the very same cell is a label-free sign of quality (chance: 1 in 500)
    same_cell = float(np.mean(anchors["cell_a"] == anchors["cell_b"]))
    print(f"ECCITE anchors: {metrics['e_rna__e_adt']}, same-cell fraction {same_cell:.3f} (chance 0.002)")
    assert len(anchors) > 500 and anchors["cell_a"].nunique() > 100
    assert same_cell > 0.01


def test_anchor_bad_input(shared_data, tmp_path, run_cli):
    rna = shared_data / "eccite_pbmc_ctrl_rna.h5ad"
    adt = shared_data / "eccite_pbmc_ctrl_adt.h5ad"
    atac = shared_data / "pbmc10x_multiome_mini_atac.h5ad"
    nonsense = tmp_path / "nonsense.tsv"
    nonsense.write_text("feature\tgenes\nNotAnAntibody\tNOTAGENE\n")
    pair = ["--input-a", rna, "--sample-a", "r", "--modality-a", "rna", "--outdir", tmp_path]
    adt_b = ["--input-b", adt, "--sample-b", "p", "--modality-b", "adt"]
    assert_user_error(
        run_cli("anchors", *pair, *adt_b, "--mapping", nonsense), "share 0 feature", "--mapping"
    )
    atac_b = ["--input-b", atac, "--sample-b", "a", "--modality-b", "atac"]
    assert_user_error(run_cli("anchors", *pair, *atac_b), "is ATAC", "--features-b", "gene-activity")
    assert_user_error(run_cli("anchors", *pair, *atac_b, "--features-b", adt), "--features-b", "same cells")
    assert_user_error(
        run_cli("anchors", *pair, "--input-b", rna, "--sample-b", "r", "--modality-b", "rna"), "both 'r'"
    )
