"""Stub runs of every module, as ``nextflow run -stub`` (and the modules' nf-test stub tests) would do them.

Each module's ``stub:`` block is rendered with small placeholder inputs and run in its own folder; every
declared output (all but the `eval` versions tuples) must appear under its declared name. A stub that
forgets an output, or names it differently from the ``output:`` block, fails here in a second, without
Nextflow or data.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "nextflow"))
import tasks  # noqa: E402

MODULES = sorted(p.parent.name for p in (tasks.REPO / "modules" / "local").glob("*/main.nf"))


def _inputs(module: str, f) -> list:
    """Placeholder inputs for ``module``; ``f(name)`` makes an empty file (or folder) and returns its path."""
    rna = {"id": "s1", "modality": "rna", "batch": None, "condition": None, "genome": None, "mudata_key": None,
           "allow_non_counts": False}
    atac = {**rna, "id": "s2", "modality": "atac"}
    pair = {"id": "s1__s2", "sample_a": "s1", "modality_a": "rna", "sample_b": "s2", "modality_b": "atac"}
    run = {"id": "crossomics"}
    model = f("model/")
    return {
        "validate": [[{"id": "samplesheet"}, f("samplesheet.csv"), [f("a/s1.h5ad"), f("b/s2.h5ad")]], []],
        "qc": [[rna, f("s1.h5ad"), []]],
        "preprocess": [[rna, f("s1.qc.h5ad")]],
        "gene_activity": [[atac, f("s2.h5ad")], f("genes.gtf")],
        "geneset_score": [[rna, f("s1.h5ad")], [f("a.gmt"), f("b.gmt")]],
        "mnn_anchors": [[pair, f("s1.h5ad"), f("s2.h5ad"), f("s2.gene_activity.h5ad")]],
        "train": [[run, f("samplesheet.csv"), [f("s1.h5ad"), f("s2.h5ad")], []]],
        "latent": [[rna, f("s1.h5ad")], model],
        "generate": [[{**rna, "target": "atac"}, f("s1.h5ad")], model],
        "simulate": [[{"id": "simulation"}, model], 100],
        "perturb": [[rna, f("s1.h5ad"), 2, 3], model],
        "perturb_merge": [[rna, [f("chunk_1/"), f("chunk_2/")]], [f("a.gmt")]],
        "metrics": [[run, f("samplesheet.csv"), [f("s1.latent.h5ad"), f("s2.latent.h5ad")]]],
        "multiqc": [[run, [f("s1.qc.json")]], [], [f("integration.json")], model, [], [], [], [], [f("software_versions.yml")],
                    f("samplesheet.csv"), f("multiqc_config.yml")],
    }[module]


@pytest.fixture(scope="module")
def stub_runs(tmp_path_factory) -> dict[str, tasks.TaskRun]:
    root = tmp_path_factory.mktemp("nextflow_stubs")

    def placeholder(name: str) -> str:
        path = root / "inputs" / name
        if name.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        return str(path)

    config = tasks.pipeline_config()
    requests = [tasks.task_request(m, _inputs(m, placeholder), config, section="stub") for m in MODULES]
    try:
        rendered = tasks.render(requests, root)
    except tasks.ToolsMissing as err:
        pytest.fail(str(err))
    return {m: tasks.run_task(r, root / "work" / m) for m, r in zip(MODULES, rendered)}


def test_every_module_has_placeholder_inputs() -> None:
    assert len(MODULES) == 14
    for module in MODULES:
        assert _inputs(module, lambda name: name)


@pytest.mark.parametrize("module", MODULES)
def test_stub_writes_every_declared_output(stub_runs, module: str) -> None:
    run = stub_runs[module]
    assert run.returncode == 0, run.explain()
    assert not run.missing, run.explain()
    declared = [o for o in run.rendered["outputs"] if o["paths"]]
    assert declared and all(run.outputs[o["emit"]] for o in declared), run.explain()
