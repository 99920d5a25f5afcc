"""QC: metrics, thresholds, the zero-cells error and the `crossomics qc` outputs (real and hand-made data)."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import assert_user_error

from crossomics._keys import KEYS
from crossomics.errors import InputError
from crossomics.pp.qc import QCThresholds, filter_cells, qc_metrics, tss_table


def _toy_rna() -> ad.AnnData:
    """4 cells x 4 genes; genes 2 and 3 are mitochondrial (both spellings), gene 4 is in one cell only."""
    x = np.array([[10, 5, 5, 0], [30, 1, 0, 0], [3, 0, 0, 1], [50, 0, 2, 0]], dtype=np.int32)
    var = pd.DataFrame(index=["Actb", "mt-Co1", "MT-ND1", "Rare1"])
    return ad.AnnData(sp.csr_matrix(x), obs=pd.DataFrame(index=[f"c{i}" for i in range(4)]), var=var)


def test_metrics_on_a_hand_made_matrix():
    metrics = qc_metrics(_toy_rna(), "rna")
    np.testing.assert_array_equal(metrics[KEYS.n_counts], [20, 31, 4, 52])
    np.testing.assert_array_equal(metrics[KEYS.n_features], [3, 2, 2, 2])
    np.testing.assert_allclose(metrics[KEYS.pct_mito], [50.0, 100 / 31, 0.0, 200 / 52])


def test_filtering_counts_each_threshold_and_keeps_raw_counts():
    thresholds = QCThresholds(min_counts=10, min_features=2, max_pct_mito=20.0, min_cells_per_feature=1)
    filtered, summary = filter_cells(_toy_rna(), "rna", thresholds)
    assert filtered.obs_names.tolist() == ["c1", "c3"]  # c2: too few counts; c0: 50% mitochondrial
    assert (
        summary["removed_min_counts"],
        summary["removed_min_features"],
        summary["removed_max_pct_mito"],
    ) == (
        1,
        0,
        1,
    )
    assert filtered.var_names.tolist() == ["Actb", "mt-Co1", "MT-ND1"]  # Rare1 was only in c2
    assert sp.isspmatrix_csr(filtered.X) and filtered.X.dtype == np.int32
    np.testing.assert_array_equal(filtered.X.toarray(), [[30, 1, 0], [50, 0, 2]])
    assert filtered.obs[KEYS.n_counts].tolist() == [31, 52]
    assert (summary["cells_in"], summary["cells_out"], summary["features_in"], summary["features_out"]) == (
        4,
        2,
        4,
        3,
    )
    assert summary["removed_features_min_cells"] == 1
    assert summary["median_n_counts_before"] == 25.5 and summary["median_n_counts_after"] == 41.5


def test_zero_cells_names_the_threshold_and_counts():
    with pytest.raises(InputError, match=r"min_counts=1000 removed 4 of 4 cells.*--min-counts"):
        filter_cells(_toy_rna(), "rna", QCThresholds(min_counts=1000, min_features=1))


def test_promoter_fraction_uses_tss_strand():
    genes = pd.DataFrame(
        {"chrom": ["chr1", "chr1"], "start": [10_000, 50_000], "end": [20_000, 60_000], "strand": ["+", "-"]}
    )
    tss = tss_table(genes)
    assert tss["pos"].tolist() == [10_000, 59_999]
    peaks = ["chr1:9800-10100", "chr1:15000-15500", "chr1:59900-60200", "chr2:9800-10100"]
    x = sp.csr_matrix(np.array([[2, 1, 1, 4], [0, 3, 0, 0]], dtype=np.int32))
    adata = ad.AnnData(x, obs=pd.DataFrame(index=["a", "b"]), var=pd.DataFrame(index=peaks))
    metrics = qc_metrics(adata, "atac", annotation_tss=tss)
    np.testing.assert_allclose(metrics[KEYS.frac_promoter], [3 / 8, 0.0])
    assert KEYS.pct_mito not in metrics


@pytest.mark.parametrize(
    ("name", "modality", "median_counts", "min_kept"),
    [
        ("snare_chen2019_mouse_cortex_rna", "rna", 247, 0.99),
        ("snare_chen2019_mouse_cortex_atac", "atac", 83, 0.99),
        ("eccite_pbmc_ctrl_adt", "adt", None, 0.99),
        ("scicar_mouse_kidney_atac", "atac", 15, 0.95),
    ],
)
def test_defaults_keep_most_cells_of_real_sets(shared_data, name, modality, median_counts, min_kept):
    adata = ad.read_h5ad(shared_data / f"{name}.h5ad")
    filtered, summary = filter_cells(adata, modality, QCThresholds.defaults(modality))
    print(
        f"{name}: kept {summary['cells_out']}/{summary['cells_in']} cells, {summary['features_out']} features"
    )
    assert summary["cells_out"] >= min_kept * adata.n_obs
    if median_counts is not None:
        assert summary["median_n_counts_before"] == median_counts
    kept = adata[filtered.obs_names, filtered.var_names].X
    assert (filtered.X != kept).nnz == 0


def test_cli_writes_filtered_h5ad_and_flat_json(shared_data, tmp_path, run_cli):
    result = run_cli(
        "qc",
        "--input",
        shared_data / "snare_chen2019_mouse_cortex_rna.h5ad",
        "--sample",
        "snare_rna",
        "--modality",
        "rna",
        "--outdir",
        tmp_path,
        "--min-counts",
        "100",
    )
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "qc" / "snare_rna.qc.json").read_text())
    assert all(not isinstance(v, (dict, list)) for v in record.values())  # flat, for MultiQC
    assert record["threshold_min_counts"] == 100 and record["threshold_min_features"] == 10
    assert record["median_n_counts_before"] == 247 and record["median_n_counts_after"] > 247
    filtered = ad.read_h5ad(tmp_path / "qc" / "snare_rna.qc.h5ad")
    assert filtered.n_obs == record["cells_out"] == record["cells_in"] - record["removed_min_counts"]
    assert sp.issparse(filtered.X) and filtered.X.format == "csr"
    assert filtered.obs[KEYS.n_counts].min() >= 100
    assert {KEYS.n_counts, KEYS.n_features, KEYS.pct_mito} <= set(filtered.obs.columns)


def test_cli_zero_cells_exits_2_naming_the_threshold(shared_data, tmp_path, run_cli):
    result = run_cli(
        "qc",
        "--input",
        shared_data / "eccite_pbmc_ctrl_adt.h5ad",
        "--sample",
        "adt1",
        "--modality",
        "adt",
        "--outdir",
        tmp_path,
        "--min-features",
        "100",
    )
    assert_user_error(result, "sample 'adt1'", "min_features=100 removed 500 of 500 cells", "--min-features")
    assert not (tmp_path / "qc" / "adt1.qc.h5ad").exists()
