"""Gene-set scores: tolerant GMT reading, exact scores, thresholds, letter case, real data, CLI."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import assert_user_error

from crossomics._keys import KEYS
from crossomics.errors import InputError
from crossomics.priors.annotation import read_annotation
from crossomics.priors.gene_activity import gene_activity
from crossomics.priors.gene_sets import read_gmt, read_gmts, score_gene_sets

MOUSE_GO = "mouse_go_bp_go2msig_2015_uppercase.gmt"


def _counts(seed: int = 0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    x = rng.poisson(rng.gamma(1.0, 1.0, size=(40, 8)), size=(40, 8)).astype(np.float32)
    x[:, 7] = 0  # never expressed: not "present"
    return ad.AnnData(
        X=sp.csr_matrix(x),
        obs=pd.DataFrame(index=[f"c{i}" for i in range(40)]),
        var=pd.DataFrame(index=["Aa", "Bb", "Cc", "Dd", "Ee", "Ff", "Gg", "Hh"]),
    )


def test_read_gmt_tolerates_malformed_lines(tmp_path, caplog):
    path = tmp_path / "sets.gmt"
    path.write_text(
        "# comment\n"
        "SET1\tdesc\tA\tB\tB\t\n"  # repeated gene and trailing tab
        "\n"
        "BROKEN LINE WITH SPACES ONLY\n"
        "SET2\tdesc\n"  # no genes
        "SET1\tagain\tC\n"  # repeated name
        "SET3\t\tC\tD\r\n"
    )
    sets = read_gmt(path)
    assert sets == {"SET1": ["A", "B"], "SET3": ["C", "D"]}
    assert "2 lines skipped" in caplog.text and "(lines 4, 5)" in caplog.text
    assert "1 repeated set names skipped" in caplog.text and "(lines 6)" in caplog.text


@pytest.mark.parametrize("text", ["", "\n\n# nothing\n", "ONLY_A_NAME\n"])
def test_empty_gmt_is_an_error(tmp_path, text):
    path = tmp_path / "empty.gmt"
    path.write_text(text)
    with pytest.raises(InputError, match="empty.gmt holds no gene set"):
        read_gmt(path)


def test_scores_are_mean_z_scores():
    adata = _counts()
    sets = {"S1": ["AA", "bb", "cc", "hh"], "S2": ["Dd", "Ee", "Ff", "Gg", "Zz"], "tiny": ["Aa"]}
    scores = score_gene_sets(adata, sets, min_genes=2, max_genes=3)
    # S2 has 4 genes present (> max 3), tiny has 1 (< min 2); Hh never varies, so S1 keeps 3
    assert scores.var_names.tolist() == ["S1"]
    stats = scores.uns[KEYS.gene_sets]
    assert (
        stats["n_sets_used"],
        stats["n_sets_skipped_too_few_genes"],
        stats["n_sets_skipped_too_many_genes"],
    ) == (
        1,
        1,
        1,
    )
    assert scores.var.loc["S1", "n_genes_present"] == 3 and scores.var.loc["S1", "n_genes"] == 4
    x = adata.X.toarray()
    logx = np.log1p(x / x.sum(axis=1, keepdims=True) * 1e4)[:, :7]  # Hh (all zero) has no z-score
    z = (logx - logx.mean(axis=0)) / logx.std(axis=0)
    assert scores.X.dtype == np.float32 and isinstance(scores.X, np.ndarray)
    np.testing.assert_allclose(scores.X[:, 0], z[:, :3].mean(axis=1), atol=1e-5)
    wide = score_gene_sets(adata, sets, min_genes=2, max_genes=10)
    np.testing.assert_allclose(wide[:, "S2"].X.ravel(), z[:, 3:7].mean(axis=1), atol=1e-5)


def test_case_sensitive_matching_and_no_overlap_errors():
    adata = _counts()
    with pytest.raises(InputError) as err:
        score_gene_sets(
            adata, {"S": ["AA", "BB", "CC"]}, min_genes=2, case_insensitive=False, origin={"S": "up.gmt"}
        )
    assert "up.gmt" in str(err.value) and "match case-insensitively" in str(err.value)
    with pytest.raises(InputError, match="lower --min-genes"):
        score_gene_sets(adata, {"S": ["Aa", "Bb"]}, min_genes=5)


def test_snare_sets_mark_oligodendrocytes_in_rna_and_atac(shared_data):
    rna = ad.read_h5ad(shared_data / "snare_chen2019_mouse_cortex_rna.h5ad")
    atac = ad.read_h5ad(shared_data / "snare_chen2019_mouse_cortex_atac.h5ad")
    sets, origin = read_gmts([shared_data / "genesets" / MOUSE_GO])
    labels = rna.obs["cell_type"].to_numpy()
    ga = gene_activity(atac, read_annotation(shared_data / "annotation" / "mm10_genes.gtf"))
    for name, data in (("RNA", rna), ("ATAC gene activity", ga)):
        scores = score_gene_sets(data, sets, origin=origin)
        stats = scores.uns[KEYS.gene_sets]
        means = (
            pd.Series(scores[:, "myelination(6)"].X.ravel().astype(float))
            .groupby(labels)
            .mean()
            .sort_values()
        )
        print(
            f"SNARE {name}: {stats['n_sets_used']}/{stats['n_sets_read']} sets used; "
            f"'myelination' mean score by type: {means.round(2).tail(3).to_dict()}"
        )
        assert stats["n_sets_used"] > 1000
        assert means.index[-1] == "Oligo"  # upper-case GMT symbols matched the mouse genes


def test_cli_gene_sets(shared_data, tmp_path, run_cli):
    empty = tmp_path / "empty.gmt"
    empty.write_text("")
    human = tmp_path / "human_only.gmt"
    human.write_text("HUMAN_SET\tdesc\tNOT_A_GENE_1\tNOT_A_GENE_2\n")
    rna = shared_data / "eccite_pbmc_ctrl_rna.h5ad"
    gmts = [
        shared_data / "genesets" / "human_msigdb_c2_cp_v7.4.gmt",
        shared_data / "genesets" / "human_tf_targets_sccross.gmt",
    ]
    base = ["gene-sets", "--input", rna, "--sample", "eccite_rna", "--outdir", tmp_path / "out"]
    result = run_cli(*base, "--gmt", gmts[0], "--gmt", gmts[1], "--min-genes", 10, "--max-genes", 300)
    assert result.exit_code == 0, result.output
    out = ad.read_h5ad(tmp_path / "out" / "priors" / "eccite_rna.genesets.h5ad")
    stats = out.uns[KEYS.gene_sets]
    assert out.n_obs == 500 and out.X.dtype == np.float32 and isinstance(out.X, np.ndarray)
    assert stats["n_sets_read"] == 2922 + 350 and stats["n_sets_used"] == out.n_vars > 1000
    assert stats["n_sets_skipped_too_few_genes"] + stats["n_sets_skipped_too_many_genes"] + out.n_vars == 3272
    assert (out.var["n_genes_present"] >= 10).all() and (out.var["n_genes_present"] <= 300).all()
    assert_user_error(run_cli(*base, "--gmt", empty), "empty.gmt", "holds no gene set")
    assert_user_error(run_cli(*base, "--gmt", human), "human_only.gmt", "same species")
