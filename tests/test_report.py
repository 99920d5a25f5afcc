"""The MultiQC report: sections from a run's outputs, left-out sections, the CLI and MultiQC itself."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import anndata as ad
import pandas as pd
import pytest
import yaml
from _report_run import N_CELLS, N_GENES, SAMPLES, write_run

from crossomics.io.layout import Layout
from crossomics.io.write import write_text
from crossomics.report import build_inputs, run_report
from crossomics.report.multiqc import DEFAULT_CONFIG
from crossomics.report.sections import registry

REPO = Path(__file__).resolve().parents[1]


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
        "Modality": "rna",
        "Batch": "b1",
        "Condition": "ctrl",
        "File": "rna_a.h5ad",
        "Cells in": 100,
        "Cells after QC": 90,
        "Features after QC": N_GENES,
        "Cells in joint space": 90,
    }
    assert list(c["crossomics_samples_cell_types"]["data"]) == list(SAMPLES)  # samplesheet order
    assert c["crossomics_qc_cells"]["data"]["atac_a"]["kept"] == 90
    assert c["crossomics_qc_cells"]["data"]["atac_a"]["removed_min_counts"] == 7
    assert len(c["crossomics_qc_n_counts"]["data"]["rna_a"]) == N_CELLS
    assert set(c["crossomics_qc_pct_mito"]["data"]) == {"rna_a"}
    assert c["crossomics_priors_gene_sets"]["data"]["rna_a"]["skipped: too few genes"] == 2
    assert c["crossomics_priors_anchor_table"]["data"]["rna_a ↔ atac_a"]["Precision (same cell type)"] == 0.92
    metrics = c["crossomics_integration_metrics"]["data"]
    assert (
        metrics["FOSCTTM rna_a ↔ atac_a"]["Value"] == 0.12 and metrics["ARI (Leiden)"]["Better"] == "higher"
    )
    heat = c["crossomics_integration_label_transfer"]
    names = heat["ycats"]
    assert heat["data"][names.index("rna_a")][names.index("atac_a")] == 0.9
    assert heat["data"][names.index("rna_a")][names.index("rna_a")] is None
    assert c["crossomics_integration_umap"]["data"].count("data:image/png;base64,") == 2
    gen = c["crossomics_generation_metrics"]["data"]
    assert set(gen) == {"rna_a_to_atac_a"} and gen["rna_a_to_atac_a"]["marker_overlap"] == 0.45
    assert not [k for k in gen["rna_a_to_atac_a"] if k.startswith("marker_overlap_per_type")]
    assert c["crossomics_generation_markers"]["data"] == {"rna_a_to_atac_a": {"B": 0.4, "T": 0.5}}
    assert c["crossomics_generation_outputs"]["data"]["rna_a_to_atac_a"]["Target modality"] == "atac"
    assert c["crossomics_versions_software"]["data"]["crossomics"]["Version"] == "0.1.0"
    assert c["crossomics_versions_params"]["data"]["model.train_config.weight_decay"]["Value"] == 1e-5


def test_training_curves_cover_both_stages_per_term(full_run) -> None:
    _, _, c, _ = full_run
    plot = c["crossomics_training_losses"]
    labels = [d["name"] for d in plot["pconfig"]["data_labels"]]
    assert labels == ["total", "nll", "kl", "cycle", "anchor", "discriminator", "learning rate"]
    total = dict(zip(labels, plot["data"], strict=True))["total"]
    assert [x for x, _ in total["train"]] == [1, 2, 3, 4, 5, 6]
    cycle = dict(zip(labels, plot["data"], strict=True))["cycle"]
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
    assert c["crossomics_simulation_realism"]["data"]["adt"]["classifier_auc"] == 0.66
    ranking = list(c["crossomics_perturbation_ranking"]["data"].items())
    assert ranking[0] == ("G0", {"latent_shift": 1.0}) and len(ranking) == 25
    summary = c["crossomics_perturbation_summary"]
    assert summary["data"]["G0"]["top_cell_types"] == "B:1.00, T:0.1" and "mode" not in summary["data"]["G0"]
    assert "The same in every row: mode oe." in summary["description"]
    top_up = summary["data"]["G0"]["rna_top_up"]  # 20 genes, cut after a whole name
    assert top_up == "G0, G1, G2, G3, G4, G5, G6, G7, G8, G9, G10, G11, G12, …" and len(top_up) <= 60
    shift = list(c["crossomics_perturbation_condition"]["data"].items())
    assert shift[0] == ("G29", {"shift toward reference": 0.8}) and shift[-1][1]["shift toward reference"] < 0
    assert list(c["crossomics_perturbation_pathways"]["data"]) == ["SET_B", "SET_A"]
    top = c["crossomics_perturbation_features"]["data"]
    assert len(top) == 20 and {r["Target modality"] for r in top.values()} == {"rna", "atac"}
    assert all(r["Feature"].endswith(":3") for r in top.values() if r["score"] > 3)
    assert c["crossomics_perturbation_metrics"]["data"]["demo_truth"]["target_auroc"] == 0.91


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
    assert [n.split(" (")[0] for n in notes if "could not be read" in n] == [
        "Integration: its inputs could not be read"
    ]
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
    check = subprocess.run(
        [sys.executable, "-m", "multiqc", "--check-config", str(DEFAULT_CONFIG)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_report_command_writes_the_html(full_run, run_cli, monkeypatch) -> None:
    """As the MULTIQC task runs it: in the output folder, relative paths, a staged copy of the settings."""
    layout, sheet, contents, _ = full_run
    settings = DEFAULT_CONFIG.read_text().replace(
        'title: "crossomics report"', 'title: "crossomics task report"'
    )
    write_text(settings, layout.outdir / "multiqc_config.yml")
    monkeypatch.chdir(layout.outdir)
    args = (
        "--outdir",
        ".",
        "--input",
        sheet.relative_to(layout.outdir),
        "--multiqc-config",
        "multiqc_config.yml",
    )
    result = run_cli("report", *args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    html = (layout.outdir / "multiqc" / "multiqc_report.html").read_text()
    assert "crossomics task report" in html
    for section, _, _ in registry():
        assert f'id="{section.id}"' in html and section.title in html
    for anchor in contents:
        assert f'id="{anchor}"' in html
    assert (layout.outdir / "multiqc" / "multiqc_data").is_dir()
    assert not [p for p in (layout.outdir / "multiqc").iterdir() if p.name.startswith(".")]


def test_report_command_errors(tmp_path, run_cli) -> None:
    from conftest import assert_user_error

    assert_user_error(run_cli("report", "--outdir", tmp_path / "missing"), "no such folder")


@pytest.mark.parametrize("leftovers", [[], ["multiqc/multiqc_report.html", "pipeline_info/params.json"]])
def test_report_on_a_folder_without_results_is_a_user_error(tmp_path, run_cli, leftovers) -> None:
    from conftest import assert_user_error

    empty = tmp_path / "empty"
    empty.mkdir()
    for name in leftovers:  # an old report or run parameters alone are not results
        write_text("{}", empty / name)
    (empty / "metrics").mkdir()  # an empty stage folder is not either
    result = run_cli("report", "--outdir", empty)
    assert_user_error(
        result, str(empty), "no crossomics results", "metrics/", "integration/", "crossomics run"
    )
    assert not (empty / "multiqc" / "mqc_inputs").exists()


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
    assert script.read_text().splitlines()[2:] == [
        "from crossomics.cli import run_step",
        'run_step("report")',
    ]


def test_simulation_section_scales_linearly_in_features(tmp_path) -> None:
    """Shared features of a simulated file and its real sample come from one set, not one set per feature."""
    import time

    import numpy as np
    import scipy.sparse as sp

    from crossomics.io.write import write_h5ad
    from crossomics.report.sections import Context
    from crossomics.report.sections_downstream import simulation_section

    n_features, n_cells = 20_000, 20
    names = [f"peak{i}" for i in range(n_features)]
    x = sp.random(n_cells, n_features, density=0.05, format="csr", random_state=0, dtype=np.float32) * 10
    layout = Layout(tmp_path / "results")
    real = ad.AnnData(
        x, var=pd.DataFrame(index=names), obs=pd.DataFrame(index=[f"c{i}" for i in range(n_cells)])
    )
    write_h5ad(real, layout.qc_h5ad("atac"))
    write_text("{}", layout.qc_json("atac"))  # makes "atac" a known sample
    write_h5ad(real[:, names[::-1]].copy(), layout.dir("simulation") / "atac.h5ad")
    start = time.perf_counter()
    out = simulation_section(Context(layout, None, tmp_path / "figures"))
    seconds = time.perf_counter() - start
    fidelity = next(c for c in out if c.id == "crossomics_simulation_fidelity").data["atac"]
    assert fidelity["Real sample"] == "atac" and fidelity["r log mean"] == pytest.approx(1.0)
    assert seconds < 10, f"{seconds:.1f} s for {n_features} features (one set per feature: 40 s)"
