"""Perturbation screens on an untrained demo model: the vectorised path equals the plain path, chunked runs
equal single runs byte for byte, perturbation rules, merge checks, enrichment and bad input (exit code 2)."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from _perturb_demo import build_model, one_torch_thread, prepare_demo
from conftest import assert_user_error, invoke

from crossomics.model import CrossModel
from crossomics.model.inputs import reduced_from_counts, select_counts
from crossomics.tl.perturb import Perturbation, PerturbationEngine
from crossomics.tl.perturb_condition import benjamini_hochberg, pathway_enrichment
from crossomics.tl.perturb_inputs import naive_correlation, read_gene_list

OUTPUTS = ("effects", "summary", "cell_types", "condition_shift", "condition_features", "pathways")


@pytest.fixture(scope="module", autouse=True)
def _threads():
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict:
    demo = prepare_demo(tmp_path_factory.mktemp("perturb_screen"), n_cells=400, n_top_genes=300)
    demo["model"] = build_model(demo, epochs=0)
    adata = ad.read_h5ad(demo["rna"])
    demo["features"] = list(adata.var_names[adata.var["highly_variable"].to_numpy(bool)])
    demo["not_input"] = next(g for g in adata.var_names if g not in set(demo["features"]))
    return demo


def _plain_effect(model, counts, info, column, perturbation, focus, decode, share):
    """Effect of one gene the slow, obvious way: perturb the whole matrix and run every cell again."""
    old = counts[:, column].toarray().ravel().astype(np.float64)
    new = perturbation.apply(old, np.asarray(counts.sum(axis=1)).ravel(), share)
    new[~focus] = old[~focus]
    changed = sp.lil_matrix(counts.astype(np.float64))
    changed[:, column] = new[:, None]
    red0 = reduced_from_counts(counts, info.preprocess)
    graph = model.smoothing_graph(red0)
    red1 = reduced_from_counts(sp.csr_matrix(changed), info.preprocess)
    z0 = model.embed_inputs(model.inputs_from_reduced(red0, graph), info.name)
    z1 = model.embed_inputs(model.inputs_from_reduced(red1, graph), info.name)
    return z0, z1, model.decode(z1[decode], "atac_a").astype(np.float64).mean(axis=0)


@pytest.mark.parametrize(("mode", "factor"), [("ko", None), ("kd", 0.3), ("oe", None), ("oe", 3.0)])
def test_vectorised_engine_equals_plain_path(demo, mode, factor):
    model = CrossModel.load(demo["model"])
    info = model.domains["rna_a"]
    counts, _ = select_counts(ad.read_h5ad(demo["rna"]), list(info.preprocess["features"]), source="test")
    focus = np.ones(counts.shape[0], dtype=bool)
    focus[::3] = False  # perturb two cells in three; the others only through smoothing
    decode = np.arange(0, focus.sum(), 2)
    perturbation = Perturbation(mode, factor)
    engine = PerturbationEngine(
        model,
        counts,
        domain="rna_a",
        targets={"rna": "rna_a", "atac": "atac_a"},
        focus=focus,
        decode_idx=decode,
        perturbation=perturbation,
    )
    features = list(info.preprocess["features"])
    columns = [
        features.index(g) for g in (demo["truth"]["driver"], demo["features"][5], demo["features"][40])
    ]
    results = engine.run_block(columns, [features[j] for j in columns])
    cells = np.flatnonzero(focus)
    for column, result in zip(columns, results, strict=True):
        z0, z1, atac_mean = _plain_effect(
            model, counts, info, column, perturbation, focus, cells[decode], engine.share[column]
        )
        z = z0[cells].copy()
        z[result.moved] = result.z_moved
        assert np.array_equal(z, z1[cells])  # same embedding, bit for bit
        truly_moved = np.flatnonzero((z1[cells] != z0[cells]).any(axis=1))
        assert np.array_equal(np.sort(result.moved), truly_moved)
        np.testing.assert_allclose(result.sums["atac"] / decode.size, atac_mean, rtol=0, atol=1e-7)


def test_perturbation_rules():
    counts = np.array([0.0, 1.0, 4.0, 30.0])
    totals = np.array([100.0, 50.0, 20.0, 200.0])
    np.testing.assert_array_equal(Perturbation("ko").apply(counts, totals, 0.0), 0.0)
    np.testing.assert_allclose(Perturbation("kd").apply(counts, totals, 0.0), counts * 0.5)
    np.testing.assert_allclose(Perturbation("oe", 3.0).apply(counts, totals, 0.0), counts * 3)
    raised = Perturbation("oe").apply(counts, totals, 0.1)
    share = raised / (totals - counts + raised)
    np.testing.assert_allclose(share[:2], 0.1)  # cells below the target share are raised to it
    np.testing.assert_array_equal(raised[2:], counts[2:])  # cells above keep their counts
    assert Perturbation("kd").describe()["factor"] == 0.5


def test_naive_correlation_is_pearson():
    rng = np.random.default_rng(0)
    genes = rng.normal(size=(50, 3))
    target = sp.csr_matrix(rng.poisson(2.0, size=(50, 7)).astype(float))
    expected = np.corrcoef(genes.T, target.toarray().T)[:3, 3:]
    np.testing.assert_allclose(naive_correlation(genes, target), expected, atol=1e-12)


def test_pathway_enrichment_and_bh():
    ranked = [f"G{i}" for i in range(100)]
    sets = {
        "TOP": [g.lower() for g in ranked[:8]] + ["NOT_SCREENED"],
        "BOTTOM": ranked[-8:],
        "TINY": ranked[:2],
    }
    table = pathway_enrichment(ranked, sets, top_genes=10)
    assert table["gene_set"].tolist() == ["TOP", "BOTTOM"]  # sets under 3 screened genes are skipped
    top = table.iloc[0]
    assert top["n_in_screen"] == 8 and top["n_in_top"] == 8 and top["pvalue"] < 1e-8
    assert table.iloc[1]["pvalue"] == 1.0
    p = np.array([0.01, 0.04, 0.03, 0.5])
    np.testing.assert_allclose(benjamini_hochberg(p), [0.04, 0.16 / 3, 0.16 / 3, 0.5])  # 0.04 * 4 / 3 wins


def test_gene_list_file(tmp_path):
    path = tmp_path / "genes.txt"
    path.write_text("# header\nIrf7, Isg15\n\nStat1\tMx1  # comment\n")
    assert read_gene_list(path) == ["Irf7", "Isg15", "Stat1", "Mx1"]


def _perturb(demo, out, *extra):
    return invoke(
        "perturb",
        "--model",
        demo["model"],
        "--input",
        demo["rna"],
        "--modality",
        "rna",
        "--mode",
        "kd",
        "--source-condition",
        "stim",
        "--reference-condition",
        "ctrl",
        "--gmt",
        demo["gmt"],
        "--decode-cells",
        "150",
        "--top-features",
        "40",
        "--device",
        "cpu",
        "--out",
        out,
        *extra,
    )


def test_chunked_screen_equals_single_run(demo, tmp_path, monkeypatch):
    monkeypatch.setattr(
        "crossomics.tl.perturb.ROWS_PER_BLOCK", 1000
    )  # several genes per block, several blocks
    genes = ",".join(demo["features"][:50])
    single = _perturb(demo, tmp_path / "single", "--genes", genes)
    assert single.exit_code == 0, single.output
    for k in (1, 2, 3):
        result = _perturb(
            demo, tmp_path / f"chunk_{k}", "--genes", genes, "--chunk", str(k), "--n-chunks", "3"
        )
        assert result.exit_code == 0, result.output
        assert (tmp_path / f"chunk_{k}" / f"effects.chunk{k}of3.tsv").is_file()
    merged = invoke(
        "perturb-merge",
        "--inputs",
        tmp_path / "chunk_1",
        tmp_path / "chunk_3",
        tmp_path / "chunk_2",
        "--out",
        tmp_path / "merged",
    )
    assert merged.exit_code == 0, merged.output
    # a whole screen (--n-chunks 1, as Nextflow runs it with one chunk) merges into itself
    assert (
        invoke("perturb-merge", "--inputs", tmp_path / "single", "--out", tmp_path / "again").exit_code == 0
    )
    for name in OUTPUTS:
        a, b, c = (tmp_path / d / f"{name}.tsv" for d in ("single", "merged", "again"))
        assert a.read_bytes() == b.read_bytes() == c.read_bytes(), name
    settings = json.loads((tmp_path / "single" / "perturb.json").read_text())
    assert settings["n_blocks"] >= 4 and 1000 // settings["n_cells"] >= 2
    summary = pd.read_csv(tmp_path / "single" / "summary.tsv", sep="\t")
    assert summary["rank"].tolist() == list(range(1, 51)) and summary["latent_shift"].is_monotonic_decreasing
    effects = pd.read_csv(tmp_path / "single" / "effects.tsv", sep="\t")
    assert list(effects.columns) == ["gene", "target_modality", "feature", "delta", "lfc", "score", "naive"]
    assert effects.groupby(["gene", "target_modality"]).size().eq(40).all()
    assert effects.loc[effects["target_modality"] == "rna", "naive"].notna().all()
    assert set(settings) >= {"mode", "factor", "seconds"}


def test_merge_refuses_incomplete_or_mixed_chunks(demo, tmp_path):
    genes = ",".join(demo["features"][:3])
    for k, mode in ((1, "kd"), (2, "kd"), (3, "oe")):
        args = ("--genes", genes, "--chunk", str(k), "--n-chunks", "3", "--mode", mode)
        assert _perturb(demo, tmp_path / f"c{k}", *args).exit_code == 0
    assert_user_error(
        invoke("perturb-merge", "--inputs", tmp_path / "c1", "--out", tmp_path / "m"),
        "chunks 2, 3 of 3 are missing",
    )
    mixed = invoke(
        "perturb-merge",
        "--inputs",
        tmp_path / "c1",
        tmp_path / "c2",
        tmp_path / "c3",
        "--out",
        tmp_path / "m",
    )
    assert_user_error(mixed, "chunk 3", "other settings", "mode")
    twice = invoke("perturb-merge", "--inputs", tmp_path / "c1", tmp_path / "c1", "--out", tmp_path / "m")
    assert_user_error(twice, "appears twice")


def _cli_base(demo, out) -> tuple:
    """``crossomics perturb`` on the demo model and RNA cells, writing to ``out``."""
    return ("perturb", "--model", demo["model"], "--input", demo["rna"], "--modality", "rna", "--out", out)


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("--genes", "Irf77"), ("Irf77: unknown gene", "did you mean Irf7")),
        (("--genes", "irf7"), ("did you mean Irf7",)),
        (("--genes", ",,"), ("gene list is empty",)),
        (("--genes", "Irf7", "--all"), ("exactly one of", "--genes and --all")),
        (("--genes", "Irf7", "--mode", "ko", "--factor", "0.5"), ("takes no --factor",)),
        (("--genes", "Irf7", "--mode", "kd", "--factor", "1.5"), ("0 < --factor < 1",)),
        (("--genes", "Irf7", "--mode", "oe", "--factor", "0.5"), ("--factor > 1",)),
        (("--genes", "Irf7", "--cell-type", "B cell"), ("cell type 'B cell'", "did you mean B")),
        (
            ("--genes", "Irf7", "--source-condition", "sick", "--reference-condition", "ctrl"),
            ("'sick'", "ctrl, stim"),
        ),
        (("--genes", "Irf7", "--source-condition", "stim"), ("go together",)),
        (("--genes", "Irf7", "--chunk", "3", "--n-chunks", "2"), ("--chunk 3",)),
        (("--genes", "Irf7", "--target-modalities", "adt"), ("no modality 'adt'",)),
        (("--genes", "Irf7", "--max-cells", "-1"), ("'--max-cells'", "-1 is not in the range x>=0")),
    ],
)
def test_bad_input_exits_2(demo, tmp_path, args, needles):
    base = _cli_base(demo, tmp_path)
    assert_user_error(invoke(*base, *args), *needles)


def test_gene_outside_model_features_and_empty_list_file(demo, tmp_path):
    base = _cli_base(demo, tmp_path)
    assert_user_error(
        invoke(*base, "--genes", demo["not_input"]), demo["not_input"], "not among the 300 input features"
    )
    empty = tmp_path / "genes.txt"
    empty.write_text("# nothing here\n")
    assert_user_error(invoke(*base, "--gene-list", empty), "gene list is empty")
    assert_user_error(invoke(*base, "--gene-list", tmp_path / "missing.txt"), "missing.txt does not exist")


def test_paired_file_gives_cross_modal_naive_and_cell_type_focus(demo, tmp_path):
    genes = ",".join([demo["truth"]["driver"], demo["features"][3]])
    result = invoke(
        "perturb",
        "--model",
        demo["model"],
        "--input",
        demo["rna"],
        "--modality",
        "rna",
        "--genes",
        genes,
        "--mode",
        "oe",
        "--cell-type",
        "B",
        "--paired",
        demo["atac"],
        "--decode-cells",
        "0",
        "--out",
        tmp_path,
    )
    assert result.exit_code == 0, result.output
    effects = pd.read_csv(tmp_path / "effects.tsv", sep="\t")
    assert effects.groupby("target_modality")["naive"].apply(lambda v: v.notna().all()).all()
    cell_types = pd.read_csv(tmp_path / "cell_types.tsv", sep="\t")
    assert set(cell_types["cell_type"]) == {"B"}
    summary = pd.read_csv(tmp_path / "summary.tsv", sep="\t")
    n_b = int((ad.read_h5ad(demo["rna"]).obs["cell_type"] == "B").sum())
    assert (summary["n_cells"] == n_b).all() and {"atac_naive_spearman", "rna_naive_spearman"} <= set(summary)


def test_max_cells_perturbs_a_seeded_subset_of_the_focus(demo, tmp_path):
    genes = ",".join(demo["features"][:3])
    common = ("--genes", genes, "--cell-type", "B", "--max-cells", "10")
    for name in ("a", "b"):
        assert _perturb(demo, tmp_path / name, *common).exit_code == 0
    settings = json.loads((tmp_path / "a" / "perturb.json").read_text())
    assert settings["max_cells"] == 10 and settings["n_cells"] == 10
    assert set(pd.read_csv(tmp_path / "a" / "cell_types.tsv", sep="\t")["cell_type"]) == {"B"}
    assert (tmp_path / "a" / "effects.tsv").read_bytes() == (tmp_path / "b" / "effects.tsv").read_bytes()


def test_cli_help_states_the_library_defaults():
    from crossomics.tl.perturb_screen import DEFAULT_DECODE_CELLS, DEFAULT_TOP_FEATURES

    text = " ".join(invoke("perturb", "--help").output.split())
    assert (
        f"0: all [default: {DEFAULT_DECODE_CELLS}]" in text
        and f"0: all [default: {DEFAULT_TOP_FEATURES}]" in text
    )


@pytest.mark.parametrize("likelihood", ["nb", "bernoulli"])
def test_score_spread_is_the_variance_of_values_drawn_around_the_decoded_means(likelihood):
    """Law of total variance: spread of the decoded means plus the likelihood's noise = spread of draws."""
    from crossomics.nn.distributions import sample_counts
    from crossomics.tl.perturb import sampling_variance

    rng = np.random.default_rng(0)
    if likelihood == "nb":
        means = rng.gamma(2.0, 1.5, size=(4000, 3)) * np.array([0.1, 1.0, 10.0])
        log_theta = np.log([0.5, 2.0, 8.0])
    else:
        means, log_theta = rng.beta(1.0, 6.0, size=(4000, 3)), None
    m, q = means.mean(axis=0), (means**2).mean(axis=0)
    predicted = q - m * m + sampling_variance(likelihood, m, q, log_theta)
    draws = np.vstack([sample_counts(means, likelihood, log_theta=log_theta, rng=rng) for _ in range(10)])
    np.testing.assert_allclose(predicted, draws.var(axis=0), rtol=0.05)
