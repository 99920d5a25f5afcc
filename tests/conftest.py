"""Shared fixtures: the real data folder (never skipped), a CLI runner and temporary output folders."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repository. Missing data is a failure, not a skip."""
    if not (SHARED_DATA / "README.md").exists():
        pytest.fail(f"real data folder not found at {SHARED_DATA}: clone the repo beside ../shared")
    return SHARED_DATA


def invoke(*args: str) -> Result:
    """Run ``crossomics ARGS`` in-process; returns click's Result (exit_code, stdout, stderr, exception)."""
    from crossomics.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True)


@pytest.fixture
def run_cli():
    """Fixture form of :func:`invoke`."""
    return invoke


def assert_user_error(result: Result, *needles: str) -> None:
    """Exit code 2, no traceback, and every ``needle`` (case-insensitive) in the message."""
    out = (result.stderr or "") + (result.stdout or "")
    assert result.exit_code == 2, f"exit {result.exit_code}, output:\n{out}\nexception: {result.exception!r}"
    assert "Traceback" not in out
    for needle in needles:
        assert needle.lower() in out.lower(), f"{needle!r} not in message:\n{out}"


def knn_label_accuracy(rep, labels, k: int = 15) -> float:
    """Leave-one-out kNN vote: fraction of cells whose label wins among their ``k`` nearest other cells."""
    import numpy as np
    from sklearn.neighbors import NearestNeighbors

    neighbours = NearestNeighbors(n_neighbors=k).fit(rep).kneighbors(return_distance=False)  # self excluded
    names, codes = np.unique(np.asarray(labels), return_inverse=True)
    votes = np.zeros((codes.size, names.size))
    np.add.at(votes, (np.repeat(np.arange(codes.size), k), codes[neighbours].ravel()), 1)
    return float((votes.argmax(axis=1) == codes).mean())


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> Path:
    """The demo data set from our simulator (seed 0), written once per test session."""
    from crossomics.datasets.synthetic import write_demo

    out = tmp_path_factory.mktemp("demo") / "data"
    write_demo(out, seed=0)
    return out


@pytest.fixture(scope="session")
def demo_run(demo_data, tmp_path_factory) -> Path:
    """``crossomics run`` on the demo (few epochs), once per session; returns the output folder. The lines it
    prints after each stage are kept beside it, in ``stage_lines.txt``."""
    from crossomics.runner import RunOptions, run_all

    outdir = tmp_path_factory.mktemp("demo_run") / "results"
    lines: list[str] = []
    run_all(
        RunOptions(
            input=demo_data / "samplesheet.csv",
            outdir=outdir,
            device="cpu",
            seed=0,
            max_epochs=4,
            annotation=demo_data / "genes.gtf",
            gene_sets=[demo_data / "genesets.gmt"],
            n_sim_cells=500,
        ),
        echo=lines.append,
    )
    (outdir.parent / "stage_lines.txt").write_text("\n".join(lines) + "\n")
    return outdir
