"""The MultiQC report: section contents from a run's outputs, left-out sections, the CLI and MultiQC itself."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml

from crossomics.io.layout import Layout
from crossomics.io.write import write_h5ad, write_json, write_text, write_tsv
from crossomics.report import build_inputs, run_report
from crossomics.report.multiqc import DEFAULT_CONFIG
from crossomics.report.sections import registry

REPO = Path(__file__).resolve().parents[1]
SAMPLES = {"rna_a": "rna", "atac_a": "atac", "adt_b": "adt"}
CELL_TYPES = np.array(["B", "T", "NK"])
N_CELLS = 90


def _counts(rng: np.random.Generator, n_features: int, types: np.ndarray) -> sp.csr_matrix:
    base = rng.gamma(1.0, 2.0, size=(len(CELL_TYPES), n_features))
    return sp.csr_matrix(rng.poisson(base[types]).astype(np.float32))


def _features(modality: str) -> list[str]:
    if modality == "atac":
        return [f"chr1:{1000 * i}-{1000 * i + 500}" for i in range(40)]
    return [f"P{i}" for i in range(8)] if modality == "adt" else [f"G{i}" for i in range(30)]


def write_run(outdir: Path, *, downstream: bool = True, seed: int = 0) -> tuple[Layout, Path]:
    """A small but complete run layout in the formats the stages write; returns it and its samplesheet."""
    rng = np.random.default_rng(seed)
    layout = Layout(outdir)
    sheet = ["sample,modality,file,batch,condition"]
    for s, mod in SAMPLES.items():
        types = rng.integers(0, len(CELL_TYPES), N_CELLS)
        x = _counts(rng, len(_features(mod)), types)
        obs = pd.DataFrame({"cell_type": CELL_TYPES[types], "n_counts": np.asarray(x.sum(1)).ravel(),
                            "n_features": np.asarray((x > 0).sum(1)).ravel()},
                           index=[f"{s}-c{i}" for i in range(N_CELLS)])
        if mod == "rna":
            obs["pct_mito"] = rng.uniform(0, 10, N_CELLS)
        a = ad.AnnData(x, obs=obs, var=pd.DataFrame(index=_features(mod)))
        write_h5ad(a, outdir / "data" / f"{s}.h5ad")
        write_h5ad(a, layout.qc_h5ad(s))
        sheet.append(f"{s},{mod},{s}.h5ad,b1,ctrl")
        write_json({"sample": s, "modality": mod, "cells_in": N_CELLS + 10, "cells_out": N_CELLS,
                    "features_in": a.n_vars, "features_out": a.n_vars, "threshold_min_counts": 5,
                    "threshold_min_features": 3, "threshold_max_pct_mito": 20.0 if mod == "rna" else None,
                    "removed_min_counts": 7, "removed_min_features": 3, "removed_max_pct_mito": 0,
                    "median_n_counts_before": 40.0, "median_n_counts_after": 42.0}, layout.qc_json(s))
        lat = ad.AnnData(obs=obs.assign(modality=mod, sample=s))
        lat.obsm["X_crossomics"] = rng.normal(size=(N_CELLS, 8)).astype(np.float32)
        lat.obsm["X_umap"] = rng.normal(size=(N_CELLS, 2)).astype(np.float32) + types[:, None] * 4
        write_h5ad(lat, layout.latent(s))
    write_text("\n".join(sheet) + "\n", outdir / "data" / "samplesheet.csv")
    _write_priors(layout, rng)
    _write_model(layout)
    if downstream:
        _write_downstream(layout, rng)
    return layout, outdir / "data" / "samplesheet.csv"


def _write_priors(layout: Layout, rng: np.random.Generator) -> None:
    ga = ad.AnnData(sp.csr_matrix((N_CELLS, 30), dtype=np.float32))
    ga.uns["crossomics_gene_activity"] = {"n_genes": 30, "n_genes_requested": 30, "n_genes_with_peak": 27,
                                          "n_peaks": 40, "n_peaks_matched": 33, "weighting": "uniform"}
    write_h5ad(ga, layout.gene_activity("atac_a"))
    gs = ad.AnnData(np.zeros((N_CELLS, 4), np.float32))
    gs.uns["crossomics_gene_sets"] = {"n_sets_read": 6, "n_sets_used": 4, "n_sets_skipped_too_few_genes": 2,
                                      "n_sets_skipped_too_many_genes": 0}
    write_h5ad(gs, layout.gene_sets("rna_a"))
    cells = [f"rna_a-c{i}" for i in range(50)]
    write_tsv(pd.DataFrame({"cell_a": cells, "cell_b": [c.replace("rna_a", "atac_a") for c in cells],
                            "score": rng.uniform(0.1, 1, 50)}), layout.anchors("rna_a", "atac_a"))
    write_json({"rna_a__atac_a": {"n_anchors": 50, "n_cells_a": 50, "n_cells_b": 50, "precision": 0.92,
                                  "cell_types_covered": 1.0, "n_cell_types": 3}}, layout.metrics("anchors"))


def _write_model(layout: Layout) -> None:
    rows = []
    for stage, epochs in ((1, 3), (2, 3)):
        for e in range(1, epochs + 1):
            row = {"stage": stage, "epoch": e, "lr": 0.002 / e}
            for split in ("train", "val"):
                for s in SAMPLES:
                    row[f"{split}_nll_{s}"] = 2.0 / e
                    row[f"{split}_kl_{s}"] = 0.1 * e
                    if stage == 2:
                        row[f"{split}_cycle_{s}"] = 0.5 / e
                row[f"{split}_total"] = 9.0 / e + stage
                if stage == 2:
                    row[f"{split}_discriminator"] = 1.3
                    row[f"{split}_anchor"] = 0.4 / e
            rows.append(row)
    write_text(pd.DataFrame(rows).to_csv(index=False), layout.model_dir() / "history.csv")
    write_json({"crossomics_version": "0.1.0", "arch": {"n_latent": 8}, "train_config": {"lr": 0.002, "weight_decay": 1e-5},
                "loss_weights": {"kl": 1.0}, "domains": [{"name": s, "modality": m} for s, m in SAMPLES.items()]},
               layout.model_dir() / "model.json")
    metrics = {"n_cells": dict.fromkeys(SAMPLES, N_CELLS), "foscttm__rna_a__atac_a": 0.12, "ari_leiden": 0.61,
               "nmi_leiden": 0.66, "asw_celltype": 0.58, "modality_mixing": 0.74, "leiden_resolution": 0.8}
    for a in SAMPLES:
        for b in SAMPLES:
            if a != b:
                metrics[f"label_transfer__{a}__{b}"] = 0.9 if (a, b) == ("rna_a", "atac_a") else 0.5
    write_json(metrics, layout.metrics("integration"))


def _write_downstream(layout: Layout, rng: np.random.Generator) -> None:
    gen = ad.AnnData(np.ones((N_CELLS, 40), np.float32))
    gen.uns["crossomics_generate"] = {"source": "rna_a", "target": "atac_a", "model": "model"}
    write_h5ad(gen, layout.dir("generation") / "rna_a_to_atac_a.h5ad")
    write_json({"atac_a_to_rna_a": {"gene_r": 0.21, "cell_r": 0.58, "marker_overlap": {"B": 0.4, "T": 0.5}},
                "classifier_auc": 0.66}, layout.metrics("generation"))
    real = ad.read_h5ad(layout.qc_h5ad("rna_a"))
    write_h5ad(real.copy(), layout.dir("simulation") / "rna.h5ad")  # a perfect simulation: r = 1
    adt = ad.read_h5ad(layout.qc_h5ad("adt_b"))
    adt.X = sp.csr_matrix(rng.poisson(3.0, adt.shape).astype(np.float32))
    write_h5ad(adt, layout.dir("simulation") / "adt.h5ad")
    genes = [f"G{i}" for i in range(30)]
    write_tsv(pd.DataFrame({"gene": genes, "score": np.linspace(-1, 2, 30), "latent_shift": np.linspace(0, 1, 30),
                            "top_cell_type": "B"}), layout.dir("perturbation") / "summary.tsv")
    effects = pd.DataFrame([(g, t, f"{t}:{k}", 0.1 * k, 0.2 * k, rng.normal() + (5 if k == 3 else 0))
                            for g in genes[:5] for t in ("rna", "atac") for k in range(12)],
                           columns=["gene", "target_modality", "feature", "delta", "lfc", "score"])
    write_tsv(effects, layout.dir("perturbation") / "effects.tsv")
    write_json({"driver_target_auroc": 0.91}, layout.metrics("perturbation"))
    write_text(yaml.safe_dump({"CROSSOMICS_RUN": {"crossomics": "0.1.0", "python": "3.11.7"}}), layout.versions())
    write_json({"params": {"input": "samplesheet.csv", "seed": 0}, "stage_seconds": {"train": 1.5}}, layout.params())


def _contents(folder: Path) -> dict[str, dict]:
    return {p.name[: -len("_mqc.json")]: json.loads(p.read_text()) for p in folder.glob("*_mqc.json")}


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> tuple[Layout, Path, dict[str, dict], list[str]]:
    layout, sheet = write_run(tmp_path_factory.mktemp("run"))
    folder, notes = build_inputs(layout, samplesheet=sheet, config=DEFAULT_CONFIG)
    return layout, sheet, _contents(folder), notes


def test_every_section_is_built_from_a_complete_run(full_run) -> None:
    _, _, contents, notes = full_run
    assert notes == []
    parents = {c["parent_id"] for c in contents.values()}
    assert parents == {s.id for s, _, _ in registry()}
    for c in contents.values():
        assert c["data"], c["id"]


def test_sections_show_the_stage_outputs(full_run) -> None:
    _, _, c, _ = full_run
    assert c["crossomics_samples_table"]["data"]["rna_a"] == {
        "Modality": "rna", "Batch": "b1", "Condition": "ctrl", "File": "rna_a.h5ad", "Cells in": 100,
        "Cells after QC": 90, "Features after QC": 30, "Cells in joint space": 90}
    assert c["crossomics_qc_cells"]["data"]["atac_a"]["kept"] == 90
    assert c["crossomics_qc_cells"]["data"]["atac_a"]["removed_min_counts"] == 7
    assert len(c["crossomics_qc_n_counts"]["data"]["rna_a"]) == N_CELLS
    assert set(c["crossomics_qc_pct_mito"]["data"]) == {"rna_a"}
    assert c["crossomics_priors_gene_sets"]["data"]["rna_a"]["skipped: too few genes"] == 2
    assert c["crossomics_priors_anchor_table"]["data"]["rna_a ↔ atac_a"]["Precision (same cell type)"] == 0.92
    metrics = c["crossomics_integration_metrics"]["data"]
    assert metrics["FOSCTTM rna_a ↔ atac_a"]["Value"] == 0.12 and metrics["ARI (Leiden)"]["Better"] == "higher"
    heat = c["crossomics_integration_label_transfer"]
    names = heat["ycats"]
    assert heat["data"][names.index("rna_a")][names.index("atac_a")] == 0.9
    assert heat["data"][names.index("rna_a")][names.index("rna_a")] is None
    assert c["crossomics_integration_umap"]["data"].count("data:image/png;base64,") == 2
    assert c["crossomics_generation_metrics"]["data"]["atac_a_to_rna_a"]["marker_overlap.B"] == 0.4
    assert c["crossomics_generation_outputs"]["data"]["rna_a_to_atac_a"]["Target"] == "atac_a"
    assert c["crossomics_versions_software"]["data"]["crossomics"]["Version"] == "0.1.0"
    assert c["crossomics_versions_params"]["data"]["model.train_config.weight_decay"]["Value"] == 1e-5


def test_training_curves_cover_both_stages_per_term(full_run) -> None:
    _, _, c, _ = full_run
    plot = c["crossomics_training_losses"]
    labels = [d["name"] for d in plot["pconfig"]["data_labels"]]
    assert labels == ["total", "nll", "kl", "cycle", "anchor", "discriminator", "learning rate"]
    total = dict(zip(labels, plot["data"]))["total"]
    assert [x for x, _ in total["train"]] == [1, 2, 3, 4, 5, 6]
    cycle = dict(zip(labels, plot["data"]))["cycle"]
    assert set(cycle) == {f"{split} {s}" for split in ("train", "val") for s in SAMPLES}
    assert [x for x, _ in cycle["val atac_a"]] == [4, 5, 6]  # stage 2 only
    assert [line["value"] for line in plot["pconfig"]["x_lines"]] == [3.5]


def test_simulation_and_perturbation_sections(full_run) -> None:
    _, _, c, _ = full_run
    fidelity = c["crossomics_simulation_fidelity"]["data"]
    assert fidelity["rna"]["Real sample"] == "rna_a" and fidelity["rna"]["r log mean"] == pytest.approx(1.0)
    assert fidelity["adt"]["Real sample"] == "adt_b" and fidelity["adt"]["r log mean"] < 0.9
    means, variances = c["crossomics_simulation_mean_var"]["data"]
    assert set(means) == {"rna", "adt"} and all(p["x"] == pytest.approx(p["y"]) for p in variances["rna"])
    assert sum(c["crossomics_simulation_cells"]["data"]["rna"].values()) == N_CELLS
    ranking = list(c["crossomics_perturbation_ranking"]["data"].items())
    assert ranking[0] == ("G29", {"score": 2.0}) and len(ranking) == 25
    top = c["crossomics_perturbation_features"]["data"]
    assert len(top) == 20 and {r["Target modality"] for r in top.values()} == {"rna", "atac"}
    assert all(r["Feature"].endswith(":3") for r in top.values() if r["score"] > 3)
    assert c["crossomics_perturbation_metrics"]["data"]["overall"]["driver_target_auroc"] == 0.91


def test_missing_outputs_leave_sections_out_with_a_note(tmp_path) -> None:
    layout, _ = write_run(tmp_path, downstream=False)
    (layout.outdir / "integration" / "rna_a.latent.h5ad").unlink()
    folder, notes = build_inputs(layout)
    assert [n.split(":")[0] for n in notes] == ["Generation", "Simulation", "Perturbation"]
    parents = {c["parent_id"] for c in _contents(folder).values()}
    assert "crossomics_perturbation" not in parents and "crossomics_integration" in parents
    comment = yaml.safe_load((folder / "run_config.yml").read_text())["report_comment"]
    assert "Perturbation: no perturbation/summary.tsv" in comment
    # without a samplesheet the samples table comes from the QC outputs; environment versions are shown
    contents = _contents(folder)
    assert contents["crossomics_samples_table"]["data"]["atac_a"]["Cells after QC"] == N_CELLS
    assert "multiqc" in contents["crossomics_versions_software"]["data"]


def test_unreadable_inputs_and_stale_files(tmp_path) -> None:
    layout, _ = write_run(tmp_path)
    build_inputs(layout)
    shutil.rmtree(layout.outdir / "perturbation")
    (layout.outdir / "metrics" / "perturbation.json").unlink()
    write_text("{not json", layout.metrics("integration"))
    folder, notes = build_inputs(layout)
    assert not any(p.name.startswith("crossomics_perturbation") for p in folder.iterdir())
    assert any(n.startswith("Perturbation:") for n in notes)
    assert [n.split(" (")[0] for n in notes if "could not be read" in n] == ["Integration: its inputs could not be read"]
    assert _contents(folder)["crossomics_samples_table"]["data"]["rna_a"]["Cells in joint space"] == N_CELLS


def test_joint_space_from_the_mudata_alone(tmp_path) -> None:
    import mudata

    layout, _ = write_run(tmp_path, downstream=False)
    mods = {s: ad.read_h5ad(layout.latent(s)) for s in SAMPLES}
    for s in SAMPLES:
        layout.latent(s).unlink()
    with mudata.set_options(pull_on_update=False):
        mudata.MuData(mods).write_h5mu(layout.mudata())
    folder, _ = build_inputs(layout)
    assert "crossomics_integration_umap" in _contents(folder)
    assert (folder / "figures" / "joint_space_by_cell_type.png").stat().st_size > 1000


def test_config_lists_the_sections_in_order_and_is_valid() -> None:
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    assert config["custom_content"]["order"] == [s.id for s, _, _ in registry()]
    check = subprocess.run([sys.executable, "-m", "multiqc", "--check-config", str(DEFAULT_CONFIG)],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_report_command_writes_the_html(full_run, run_cli) -> None:
    layout, sheet, contents, _ = full_run
    result = run_cli("report", "--outdir", layout.outdir, "--input", sheet)
    assert result.exit_code == 0, result.output + repr(result.exception)
    html = (layout.outdir / "multiqc" / "multiqc_report.html").read_text()
    for section, _, _ in registry():
        assert f'id="{section.id}"' in html and section.title in html
    for anchor in contents:
        assert f'id="{anchor}"' in html
    assert (layout.outdir / "multiqc" / "multiqc_data").is_dir()
    assert not [p for p in (layout.outdir / "multiqc").iterdir() if p.name.startswith(".")]


def test_report_command_errors(tmp_path, run_cli) -> None:
    from conftest import assert_user_error

    assert_user_error(run_cli("report", "--outdir", tmp_path / "missing"), "no such folder")


def test_failed_multiqc_keeps_the_previous_report(tmp_path, monkeypatch) -> None:
    layout, _ = write_run(tmp_path, downstream=False)
    report = layout.dir("multiqc") / "multiqc_report.html"
    write_text("previous report", report)

    def fail(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, "", "boom")

    monkeypatch.setattr("crossomics.report.multiqc.subprocess.run", fail)
    with pytest.raises(RuntimeError, match="MultiQC failed .exit 1.: boom"):
        run_report(layout)
    assert report.read_text() == "previous report"
    assert not [p for p in report.parent.iterdir() if p.name.startswith(".")]


def test_bin_wrapper_is_the_four_line_entry_point() -> None:
    script = REPO / "bin" / "crossomics_report.py"
    assert script.stat().st_mode & 0o111
    assert script.read_text().splitlines()[2:] == ["from crossomics.cli import run_step", 'run_step("report")']
