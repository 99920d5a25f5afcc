"""``crossomics run --skip``: the steps the pipeline's ``--skip_<step>`` parameters leave out, left out in one
process too, and a report over what ran."""

from __future__ import annotations

import json

import pytest
from conftest import assert_user_error

from crossomics.runner import SKIPPABLE, RunOptions, steps_leaving_out


def test_skip_leaves_out_steps_and_the_report_covers_the_rest(demo_data, tmp_path, run_cli):
    out = tmp_path / "results"
    steps = ["anchors", "metrics", "generation", "simulation", "perturbation"]
    result = run_cli(
        "run", "--input", demo_data / "samplesheet.csv", "--outdir", out, "--device", "cpu", "--max-epochs", "2",
        "--annotation", demo_data / "genes.gtf", "--gene-sets", demo_data / "genesets.gmt",
        *[arg for step in steps for arg in ("--skip", step)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output + repr(result.exception)
    for line in (
        "[generate] skipped (--skip generation)",
        "[simulate] skipped (--skip simulation)",
        "[perturb] skipped (--skip perturbation)",
        "anchors skipped (--skip anchors)",
        "metrics skipped (--skip metrics)",
    ):
        assert line in result.output, result.output
    # the steps that ran wrote their outputs; the skipped ones nothing (not even an anchors table)
    assert list((out / "priors").glob("*.gene_activity.h5ad"))
    assert not list((out / "priors").glob("anchors_*"))
    assert (out / "model").is_dir() and list((out / "integration").glob("*.latent.h5ad"))
    assert not (out / "metrics" / "integration.json").exists()
    for folder in ("generation", "simulation", "perturbation"):
        assert not (out / folder).exists() or not any((out / folder).iterdir()), folder
    assert (out / "multiqc" / "multiqc_report.html").is_file()
    params = json.loads((out / "pipeline_info" / "params.json").read_text())
    assert params["params"]["skip"] == sorted(steps)
    assert set(params["stage_seconds"]) == {"validate", "qc+preprocess", "priors", "train", "report"}


def test_skip_names_the_steps_it_knows(tmp_path, run_cli):
    result = run_cli(
        "run", "--input", tmp_path / "sheet.csv", "--outdir", tmp_path / "out", "--skip", "training"
    )
    assert_user_error(result, "--skip", "anchors", "multiqc")
    with pytest.raises(ValueError, match="training"):
        RunOptions(input=tmp_path / "sheet.csv", outdir=tmp_path, skip=frozenset({"training"}))
    assert SKIPPABLE == ("anchors", "metrics", "generation", "simulation", "perturbation", "multiqc")


def test_stage_names_map_to_the_steps_that_leave_them_out():
    """The benchmarks name whole stages (`--skip report`); the runner leaves them out as its --skip steps."""
    assert steps_leaving_out(["report"]) == {"multiqc"}
    assert steps_leaving_out(("generate", "simulate", "perturb")) == {
        "generation",
        "simulation",
        "perturbation",
    }
    assert steps_leaving_out([]) == frozenset()
    with pytest.raises(ValueError, match=r"\['train'\].*'report'"):
        steps_leaving_out(["train", "report"])
