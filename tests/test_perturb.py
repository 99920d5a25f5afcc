"""Perturbation on a trained demo model: the validation figures of issue 7 at small scale.

Ground truth (driver -> targets -> linked peaks), the naive co-expression predictor, knock-out of a gene
absent from a cell type, over-expression of markers, condition shift with pathway enrichment, and the
runner's stage. Figures are printed (``pytest -s``) for the report.
"""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from _perturb_demo import build_model, one_torch_thread, prepare_demo

from crossomics.io.layout import Layout
from crossomics.io.samplesheet import SampleRow
from crossomics.model import CrossModel
from crossomics.priors.gene_sets import read_gmt
from crossomics.tl.perturb import Perturbation
from crossomics.tl.perturb_screen import ScreenOptions, perturb_screen
from crossomics.tl.perturb_stage import run_perturbation_stage
from crossomics.tl.perturb_truth import auroc, demo_truth_metrics

TRAIN_EPOCHS = 15  # per stage; the ground-truth AUROCs pass from about 12 on this demo


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    with one_torch_thread():
        demo = prepare_demo(tmp_path_factory.mktemp("perturb"), n_cells=600, n_top_genes=300)
        demo["model_dir"] = build_model(demo, epochs=TRAIN_EPOCHS)
        demo["model"] = CrossModel.load(demo["model_dir"])
        demo["adata"] = ad.read_h5ad(demo["rna"])
        demo["paired"] = ad.read_h5ad(demo["atac"])
        hv = demo["adata"].var["highly_variable"].to_numpy(bool)
        demo["features"] = list(demo["adata"].var_names[hv])
        yield demo


def _screen(trained, genes, mode, **options):
    with one_torch_thread():
        return perturb_screen(
            trained["model"],
            trained["adata"],
            "rna",
            genes,
            paired=[trained["paired"]],
            options=ScreenOptions(perturbation=Perturbation(mode), top_features=0, **options),
        )


def test_driver_overexpression_recovers_targets_and_linked_peaks(trained):
    truth = trained["truth"]
    tables = _screen(trained, [truth["driver"]], "oe")
    figures = demo_truth_metrics(tables["effects"], truth, mode="oe")
    print("demo ground truth, OE of the driver:", json.dumps(figures))
    assert figures["rna_auroc"] >= 0.8 and figures["atac_auroc"] >= 0.8
    # against the naive co-expression predictor (exact by construction on the demo): as good, within 0.01
    # (1.000 / 0.998 against 1.000 / 1.000; scoring shifts in units of the decoded spread alone gave 0.942)
    assert figures["rna_auroc"] >= figures["rna_naive_auroc"] - 0.01
    assert figures["atac_auroc"] >= figures["atac_naive_auroc"] - 0.01
    effects = tables["effects"]
    own = effects[(effects["target_modality"] == "rna") & (effects["feature"] == truth["driver"])]
    assert own["delta"].iloc[0] > 0  # over-expression raises the gene's own decoded expression
    knock_out = demo_truth_metrics(_screen(trained, [truth["driver"]], "ko")["effects"], truth, mode="ko")
    print("demo ground truth, KO of the driver:", json.dumps(knock_out))
    assert knock_out["rna_auroc"] >= 0.7


def _type_specific_marker(trained) -> tuple[str, str]:
    """The marker gene most confined to one cell type, and that type."""
    adata, markers = trained["adata"], trained["truth"]["markers"]
    genes = [g for ms in markers.values() for g in ms if g in trained["features"]]
    expressed = (
        pd.DataFrame(np.asarray(adata[:, genes].layers["counts"].todense()) > 0, columns=genes)
        .groupby(adata.obs["cell_type"].astype(str).to_numpy())
        .mean()
    )
    contrast = expressed.max() - expressed.apply(lambda col: col.nlargest(2).iloc[-1])
    gene = str(contrast.idxmax())
    return gene, str(expressed[gene].idxmax())


def test_knockout_of_absent_gene_leaves_that_cell_type_almost_unchanged(trained):
    gene, home = _type_specific_marker(trained)
    adata = trained["adata"]
    # demo markers leak into 10-20% of other cells: keep only the other cells that lack the gene
    count = np.asarray(adata[:, gene].layers["counts"].todense()).ravel()
    cells = adata[(adata.obs["cell_type"].astype(str) == home).to_numpy() | (count == 0)].copy()
    with one_torch_thread():
        tables = perturb_screen(
            trained["model"], cells, "rna", [gene], options=ScreenOptions(perturbation=Perturbation("ko"))
        )
    table = tables["cell_types"].set_index("cell_type")
    print(
        f"KO {gene} (home type {home}):", table[["frac_expressing", "latent_shift"]].round(4).to_dict("index")
    )
    absent = table.drop(index=home)
    assert len(absent) == 4 and (absent["frac_expressing"] == 0).all()
    assert (absent["latent_shift"] <= 0.2 * table.loc[home, "latent_shift"]).all()


def test_marker_overexpression_moves_other_types_toward_its_type(trained):
    markers = [g for ms in trained["truth"]["markers"].values() for g in ms[:3] if g in trained["features"]]
    summary = _screen(trained, markers, "oe")["summary"]
    print(
        "OE of markers:",
        summary[["gene", "marker_type", "toward_marker_type", "switched_to_marker_type"]].to_string(),
    )
    assert summary["toward_marker_type"].median() >= 0.8


def test_condition_shift_ranks_driver_and_its_pathway(trained):
    truth = trained["truth"]
    rng = np.random.default_rng(0)
    program = {truth["driver"], *truth["targets"]}
    others = [g for g in trained["features"] if g not in program]
    genes = [truth["driver"], *truth["targets"][:9], *rng.choice(others, 40, replace=False)]
    # over-expression in ctrl cells should move them toward stim, where the driver program is active
    tables = _screen(
        trained, genes, "oe", source_condition="ctrl", reference_condition="stim", decode_cells=100
    )
    from crossomics.tl.perturb_output import finalize

    # enrichment among the top 10 of this 50-gene screen (10 program genes): with the default top 10% (5
    # genes) the driver set's FDR ranged 0.0002-0.65 over training seeds 0-3; with 10 it stays <= 0.0001
    final = finalize(tables, gene_sets=read_gmt(trained["gmt"]), top_genes=10)
    shift = final["condition_shift"]
    print(
        "condition shift, top 10:",
        shift.head(10)[["gene", "shift_toward_reference", "prob_shift"]].to_string(),
    )
    print("pathways:", final["pathways"].head(3).to_string())
    rank = int(shift.loc[shift["gene"] == truth["driver"], "rank"].iloc[0])
    program_auroc = auroc(shift["shift_toward_reference"].to_numpy(), shift["gene"].isin(program).to_numpy())
    print(
        f"driver rank {rank} of {len(shift)}; AUROC of the driver program among the genes {program_auroc:.3f}"
    )
    assert program_auroc >= 0.9  # the driver and its targets top the screen: all raise the stim program
    # the driver itself in the top 30%: ranks 10-15 of 50 over training seeds 0-3
    assert rank <= 0.3 * len(shift)
    assert final["pathways"].iloc[0]["gene_set"] == f"DEMO_{truth['driver'].upper()}_TARGETS"
    assert final["pathways"].iloc[0]["fdr"] < 0.01
    assert {"mean_source", "mean_reference"} <= set(tables["condition_features"].columns)


def test_runner_stage_writes_tables_and_metrics(trained):
    layout = Layout(trained["root"] / "out")
    rows = [SampleRow(sample="rna_a", modality="rna", file=trained["root"] / "data" / "rna_a.h5ad", row=1)]
    with one_torch_thread():
        metrics = run_perturbation_stage(layout, rows, gmt=[trained["gmt"]])
    written = json.loads(layout.metrics("perturbation").read_text())
    assert written["genes"][0] == trained["truth"]["driver"] and len(written["genes"]) == 20
    assert written["demo_truth"]["rna_auroc"] >= 0.8 and written == json.loads(json.dumps(metrics))
    for name in ("effects", "summary", "cell_types", "condition_shift", "condition_features", "pathways"):
        assert (layout.outdir / "perturbation" / f"{name}.tsv").is_file(), name
