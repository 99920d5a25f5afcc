"""Contract tests: every module's command, as Nextflow would run it, through bin/ on real data.

For each process, TaskRender.groovy evaluates the module's ``script:`` block with the task's inputs,
``meta`` and the ``task.ext.args`` that conf/modules.config gives it (``--max_epochs 2`` as a user would
pass), and works out where Nextflow stages each input. The task then runs in its own folder with the
inputs linked under their staged names, and the declared outputs must appear under their declared names;
the ``eval`` versions command must print the package version. This catches a misspelled option, an
output written under another name, or a script that reads a file under a name it was not staged as.

Data: 200 SNARE-seq cells (ATAC, and RNA of the 300 most-counted genes; mouse cortex, ../shared/data) with
the mm10 annotation and mouse MSigDB M2 pathways; 100 ECCITE-seq cells (ADT, and RNA of their 1,000 most-counted genes) for the RNA-ADT
anchors. Tasks chain as in the
pipeline and run once per session, two at a time when their inputs are ready; each test checks one task.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "nextflow"))
import nfconfig  # noqa: E402
import tasks  # noqa: E402

import crossomics  # noqa: E402

N_SNARE = 200
N_ECCITE = 100
PERTURB_CHUNKS = 2
# backed: TRAIN reads its batches from the staged preprocessed files, as `--backed` users run it
PARAMS = {"max_epochs": 1, "simulate_n_cells": 50, "perturb_chunks": PERTURB_CHUNKS, "backed": True}
WORKERS = 2  # tasks whose inputs are ready run side by side, as Nextflow runs them


def _meta(sample: str, modality: str, row: int, **extra) -> dict:
    """meta as PIPELINE_INITIALISATION makes it for a row (optional columns empty)."""
    base = {"id": sample, "modality": modality, "batch": None, "condition": None, "genome": None,
            "mudata_key": None, "allow_non_counts": False, "row": row}
    return {**base, **extra}


def _subset(src: Path, dest: Path, n: int, *, n_features: int | None = None) -> Path:
    """``n`` cells spread over the file; with ``n_features``, its most-counted features only."""
    import anndata as ad
    import numpy as np

    adata = ad.read_h5ad(src)
    step = max(1, adata.n_obs // n)
    adata = adata[::step][:n]
    if n_features is not None and adata.n_vars > n_features:
        totals = np.asarray(adata.X.sum(axis=0)).ravel()
        adata = adata[:, np.sort(np.argsort(-totals, kind="stable")[:n_features])]
    adata.copy().write_h5ad(dest)
    return dest


class Pipeline:
    """Renders every task once, runs each on demand after the tasks it needs."""

    def __init__(self, root: Path, shared: Path) -> None:
        self.root = root
        self.work = root / "work"
        data = root / "data"
        data.mkdir()
        self.files = {
            "snare_rna": _subset(shared / "snare_chen2019_mouse_cortex_rna.h5ad", data / "snare_rna.h5ad", N_SNARE, n_features=300),
            "snare_atac": _subset(shared / "snare_chen2019_mouse_cortex_atac.h5ad", data / "snare_atac.h5ad", N_SNARE),
            "eccite_rna": _subset(shared / "eccite_pbmc_ctrl_rna.h5ad", data / "eccite_rna.h5ad", N_ECCITE, n_features=1000),
            "eccite_adt": _subset(shared / "eccite_pbmc_ctrl_adt.h5ad", data / "eccite_adt.h5ad", N_ECCITE),
        }
        self.gtf = shared / "annotation" / "mm10_genes.gtf"
        self.gmt = shared / "genesets" / "mouse_msigdb_m2_cp_v2023.1.gmt"
        self.config = tasks.pipeline_config(**PARAMS)
        self.metas = {"rna": _meta("rna", "rna", 1), "atac": _meta("atac", "atac", 2),
                      "cite_rna": _meta("cite_rna", "rna", 1), "cite_adt": _meta("cite_adt", "adt", 2)}
        self.sheet = root / "stage" / "samplesheet.csv"
        self.pipeline_info = root / "stage" / "pipeline_info"
        # one numba cache for the session (each task's own folder in the pipeline): JIT compiles once
        self.env = {"NUMBA_CACHE_DIR": str(root / "numba_cache")}
        self.requests = self._plan()
        now = [(name, request) for name, request, _ in self.requests if isinstance(request, dict)]
        rendered = tasks.render([request for _, request in now], root)
        self.rendered = {name: out for (name, _), out in zip(now, rendered)}
        self.needs = {name: needs for name, _, needs in self.requests}
        self.requests_by_name = {name: request for name, request, _ in self.requests}
        self.runs: dict[str, tasks.TaskRun] = {}
        self.sheet.parent.mkdir(parents=True)
        self.sheet.write_text(self.rendered["staged_samplesheet"]["result"])
        # what the workflow writes to pipeline_info/ for the report (softwareVersionsYaml needs Nextflow's
        # `workflow` object, so the versions file is written here in its format)
        self.pipeline_info.mkdir()
        (self.pipeline_info / "params.json").write_text(json.dumps(nfconfig.render_value(self.config["params"]), indent=4))
        processes = sorted({r["process"] for r in self.rendered.values() if "process" in r})
        (self.pipeline_info / "software_versions.yml").write_text(
            "".join(f"{p}:\n  crossomics: {crossomics.__version__}\n" for p in processes)
            + f"Workflow:\n  crossomics/crossomics: {crossomics.__version__}\n  Nextflow: 25.04.0\n")

    def out(self, task: str, relpath: str) -> str:
        return str(self.work / task / relpath)

    def _plan(self) -> list[tuple[str, dict, list[str]]]:
        c, m, f, out = self.config, self.metas, self.files, self.out
        rows = sorted([[m["atac"], f["snare_atac"]], [m["rna"], f["snare_rna"]]], key=lambda r: r[0]["row"])
        pair_atac = {"id": "rna__atac", "sample_a": "rna", "modality_a": "rna", "sample_b": "atac", "modality_b": "atac"}
        pair_adt = {"id": "cite_rna__cite_adt", "sample_a": "cite_rna", "modality_a": "rna",
                    "sample_b": "cite_adt", "modality_b": "adt"}
        model = out("TRAIN", "model")
        plan = [
            ("staged_samplesheet", {"function_file": str(tasks.REPO / "subworkflows/local/utils_nfcore_crossomics_pipeline/main.nf"),
                                    "call": "stagedSamplesheet",
                                    "args": [[[meta, {"__file__": str(path)}] for meta, path in rows]]}, []),
            ("VALIDATE", tasks.task_request("validate", [[{"id": "samplesheet"}, str(self.sheet), [str(p) for _, p in rows]], str(self.gtf)], c), []),
            ("QC_rna", tasks.task_request("qc", [[m["rna"], str(f["snare_rna"]), []]], c), []),
            ("QC_atac", tasks.task_request("qc", [[m["atac"], str(f["snare_atac"]), str(self.gtf)]], c), []),
            ("QC_cite_rna", tasks.task_request("qc", [[m["cite_rna"], str(f["eccite_rna"]), []]], c), []),
            ("QC_cite_adt", tasks.task_request("qc", [[m["cite_adt"], str(f["eccite_adt"]), []]], c), []),
        ]
        for s in ("rna", "atac", "cite_rna", "cite_adt"):
            plan.append((f"PREPROCESS_{s}", tasks.task_request("preprocess", [[m[s], out(f"QC_{s}", f"qc/{s}.qc.h5ad")]], c), [f"QC_{s}"]))
        plan += [
            ("GENE_ACTIVITY_atac", tasks.task_request("gene_activity", [[m["atac"], out("PREPROCESS_atac", "preprocess/atac.h5ad")], str(self.gtf)], c),
             ["PREPROCESS_atac"]),
            ("GENESET_SCORE_rna", tasks.task_request("geneset_score", [[m["rna"], out("PREPROCESS_rna", "preprocess/rna.h5ad")], [str(self.gmt)]], c),
             ["PREPROCESS_rna"]),
            ("GENESET_SCORE_atac", tasks.task_request(
                "geneset_score", [[m["atac"], out("GENE_ACTIVITY_atac", "priors/atac.gene_activity.h5ad")], [str(self.gmt)]], c),
             ["GENE_ACTIVITY_atac"]),
            ("MNN_ANCHORS_rna_atac", tasks.task_request("mnn_anchors", [[
                pair_atac, out("PREPROCESS_rna", "preprocess/rna.h5ad"), out("PREPROCESS_atac", "preprocess/atac.h5ad"),
                out("GENE_ACTIVITY_atac", "priors/atac.gene_activity.h5ad")]], c),
             ["PREPROCESS_rna", "PREPROCESS_atac", "GENE_ACTIVITY_atac"]),
            ("MNN_ANCHORS_rna_adt", tasks.task_request("mnn_anchors", [[
                pair_adt, out("PREPROCESS_cite_rna", "preprocess/cite_rna.h5ad"), out("PREPROCESS_cite_adt", "preprocess/cite_adt.h5ad"), []]], c),
             ["PREPROCESS_cite_rna", "PREPROCESS_cite_adt"]),
            ("TRAIN", tasks.task_request("train", [[{"id": "crossomics"}, str(self.sheet),
                                                           [out("PREPROCESS_atac", "preprocess/atac.h5ad"), out("PREPROCESS_rna", "preprocess/rna.h5ad")],
                                                           [out("GENE_ACTIVITY_atac", "priors/atac.gene_activity.h5ad"),
                                                            out("GENESET_SCORE_atac", "priors/atac.genesets.h5ad"),
                                                            out("GENESET_SCORE_rna", "priors/rna.genesets.h5ad"),
                                                            out("MNN_ANCHORS_rna_atac", "priors/anchors_rna__atac.tsv")]]], c),
             ["GENE_ACTIVITY_atac", "GENESET_SCORE_atac", "GENESET_SCORE_rna", "MNN_ANCHORS_rna_atac"]),
        ]
        for s in ("rna", "atac"):
            plan.append((f"LATENT_{s}", tasks.task_request("latent", [[m[s], out(f"PREPROCESS_{s}", f"preprocess/{s}.h5ad")], model], c),
                         ["TRAIN", f"PREPROCESS_{s}"]))
        plan += [
            ("METRICS", tasks.task_request("metrics", [[{"id": "crossomics"}, str(self.sheet), [
                out("LATENT_atac", "integration/atac.latent.h5ad"), out("LATENT_rna", "integration/rna.latent.h5ad"),
                out("TRAIN", "integration/crossomics.h5mu")]]], c), ["LATENT_rna", "LATENT_atac", "TRAIN"]),
            ("GENERATE_rna_to_atac", tasks.task_request("generate", [[{**m["rna"], "target": "atac"}, out("PREPROCESS_rna", "preprocess/rna.h5ad")], model], c),
             ["TRAIN", "PREPROCESS_rna"]),
            ("SIMULATE", tasks.task_request("simulate", [[{"id": "simulation"}, model], PARAMS["simulate_n_cells"]], c), ["TRAIN"]),
        ]
        chunk_tasks = []
        for k in range(1, PERTURB_CHUNKS + 1):
            plan.append((f"PERTURB_{k}", tasks.task_request("perturb", [[m["rna"], out("PREPROCESS_rna", "preprocess/rna.h5ad"), k, PERTURB_CHUNKS], model], c),
                         ["TRAIN", "PREPROCESS_rna"]))
            chunk_tasks.append(f"PERTURB_{k}")
        plan.append(("PERTURB_MERGE", tasks.task_request("perturb_merge", [[m["rna"], [out(t, f"perturbation/chunk_{k}") for k, t in enumerate(chunk_tasks, 1)]],
                                                                          [str(self.gmt)]], c),
                     chunk_tasks))
        plan.append(("MULTIQC", self._multiqc_request, ["QC_rna", "QC_atac", "GENE_ACTIVITY_atac", "GENESET_SCORE_rna",
                                                          "MNN_ANCHORS_rna_atac", "METRICS", "LATENT_rna", "LATENT_atac",
                                                          "GENERATE_rna_to_atac", "SIMULATE", "PERTURB_MERGE"]))
        return plan

    def _multiqc_request(self) -> dict:
        """MULTIQC's inputs are what the upstream tasks wrote (their names are known only once they ran)."""
        def files(task: str, emit: str) -> list[str]:
            return [str(self.work / task / f) for f in self.runs[task].outputs[emit]]

        return tasks.task_request("multiqc", [
            [{"id": "crossomics"}, files("QC_atac", "json") + files("QC_atac", "h5ad") + files("QC_rna", "json") + files("QC_rna", "h5ad")],
            files("GENE_ACTIVITY_atac", "h5ad") + files("GENESET_SCORE_rna", "h5ad") + files("MNN_ANCHORS_rna_atac", "tsv"),
            files("METRICS", "json") + files("MNN_ANCHORS_rna_atac", "json"),
            str(self.work / "TRAIN" / "model"),
            files("LATENT_atac", "h5ad") + files("LATENT_rna", "h5ad") + files("TRAIN", "h5mu"),
            files("GENERATE_rna_to_atac", "h5ad"),
            files("SIMULATE", "h5ad"),
            files("PERTURB_MERGE", "tsv"),
            [str(self.pipeline_info / "software_versions.yml"), str(self.pipeline_info / "params.json")],
            str(self.sheet),
            str(tasks.REPO / "assets" / "multiqc_config.yml"),
        ], self.config)

    def run_all(self) -> None:
        """Run every task once its upstream tasks succeeded, ``WORKERS`` at a time; skip those whose upstream failed."""
        tasks_ = [name for name in self.needs if callable(self.requests_by_name[name]) or "module" in self.requests_by_name[name]]
        blocked: dict[str, str] = {n: "rendering" for n in tasks_ if "error" in self.rendered.get(n, {})}
        pending = [n for n in tasks_ if n not in blocked]
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            running: dict = {}
            while pending or running:
                for name in list(pending):
                    failed_up = [n for n in self.needs[name] if n in blocked or (n in self.runs and not self.runs[n].ok)]
                    if failed_up:
                        blocked[name] = ", ".join(failed_up)
                        pending.remove(name)
                    elif all(n in self.runs for n in self.needs[name]) and len(running) < WORKERS:
                        if name not in self.rendered:  # inputs known only now: render it now
                            self.rendered[name] = tasks.render([self.requests_by_name[name]()], self.root)[0]
                        pending.remove(name)
                        if "error" in self.rendered[name]:
                            blocked[name] = "rendering"
                            continue
                        running[pool.submit(_run_safely, self.rendered[name], self.work / name, self.env)] = name
                if running:
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        self.runs[running.pop(future)] = future.result()
        self.blocked = blocked

    def run(self, name: str) -> tasks.TaskRun:
        if "error" in self.rendered.get(name, {}):
            pytest.fail(f"{name} could not be rendered: {self.rendered[name]['error']}")
        if name in self.blocked:
            pytest.fail(f"{name} did not run: upstream task(s) {self.blocked[name]} failed")
        return self.runs[name]


def _run_safely(rendered: dict, workdir: Path, env: dict) -> tasks.TaskRun:
    try:
        return tasks.run_task(rendered, workdir, env=env)
    except Exception as err:  # noqa: BLE001 - a staging error is this task's failure, not the session's
        return tasks.TaskRun(rendered, workdir, -1, "", f"{type(err).__name__}: {err}")


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory, shared_data) -> Pipeline:
    try:
        pipe = Pipeline(tmp_path_factory.mktemp("nextflow_contract"), shared_data)
    except tasks.ToolsMissing as err:
        pytest.fail(str(err))
    pipe.run_all()
    return pipe


def _assert_ran(run: tasks.TaskRun) -> None:
    assert run.returncode == 0, run.explain()
    assert not run.missing, run.explain()


TASKS = [
    "VALIDATE", "QC_rna", "QC_atac", "QC_cite_rna", "QC_cite_adt",
    "PREPROCESS_rna", "PREPROCESS_atac", "PREPROCESS_cite_rna", "PREPROCESS_cite_adt",
    "GENE_ACTIVITY_atac", "GENESET_SCORE_rna", "GENESET_SCORE_atac", "MNN_ANCHORS_rna_atac", "MNN_ANCHORS_rna_adt",
    "TRAIN", "LATENT_rna", "LATENT_atac", "METRICS",
    "GENERATE_rna_to_atac", "SIMULATE", "PERTURB_1", "PERTURB_2", "PERTURB_MERGE", "MULTIQC",
]


@pytest.mark.slow
@pytest.mark.parametrize("name", TASKS)
def test_module_command_contract(pipeline: Pipeline, name: str) -> None:
    """The module's command runs through bin/ and writes every declared output under its declared name."""
    run = pipeline.run(name)
    _assert_ran(run)
    command = run.rendered["command"]
    assert "crossomics_" in command and ".py" in command


@pytest.mark.slow
def test_versions_eval_prints_package_version(pipeline: Pipeline) -> None:
    """The `eval` of the versions output, run in a finished task's folder, prints crossomics' version."""
    run = pipeline.run("QC_rna")
    _assert_ran(run)
    versions = tasks.run_evals(run)
    assert versions and set(versions.values()) == {crossomics.__version__}, versions


@pytest.mark.slow
def test_outputs_are_the_layout_paths(pipeline: Pipeline) -> None:
    """Per-sample outputs carry the sample id in the layout's folder, so publishing keeps the layout."""
    qc = pipeline.run("QC_atac")
    _assert_ran(qc)
    assert qc.outputs["h5ad"] == ["qc/atac.qc.h5ad"] and qc.outputs["json"] == ["qc/atac.qc.json"]
    pre = pipeline.run("PREPROCESS_atac")
    _assert_ran(pre)
    assert pre.outputs["h5ad"] == ["preprocess/atac.h5ad"]
    assert pipeline.rendered["PREPROCESS_atac"]["inputs"][1]["staged"] == ["qc/atac.qc.h5ad"]


def test_staged_samplesheet_names_files_as_validate_stages_them(pipeline: Pipeline) -> None:
    """The pipeline's samplesheet for VALIDATE points at inputs/<n>/<name>, where Nextflow stages file n."""
    lines = pipeline.sheet.read_text().splitlines()
    assert lines[0] == "sample,modality,file,batch,condition,genome,mudata_key,allow_non_counts"
    staged = pipeline.rendered["VALIDATE"]["inputs"][2]["staged"]
    files = [line.split(",")[2] for line in lines[1:]]
    assert files == staged == ["inputs/1/snare_rna.h5ad", "inputs/2/snare_atac.h5ad"]


def test_ext_args_reach_the_command(pipeline: Pipeline) -> None:
    """conf/modules.config's ext.args closures, evaluated with the run's params, end up on the command line."""
    assert "--max-epochs 1" in pipeline.rendered["TRAIN"]["command"]
    assert "--device cpu" in pipeline.rendered["TRAIN"]["command"]
    assert "--backed" in pipeline.rendered["TRAIN"]["command"]
    assert "--threads 2" in pipeline.rendered["TRAIN"]["command"]  # task.cpus
    assert "--threads 2" in pipeline.rendered["PERTURB_1"]["command"]
    assert "--n-comps 50" in pipeline.rendered["PREPROCESS_rna"]["command"]
    assert "--all" in pipeline.rendered["PERTURB_1"]["command"]
    assert "--annotation" in pipeline.rendered["QC_atac"]["command"]
    assert "--annotation" not in pipeline.rendered["QC_rna"]["command"]


@pytest.mark.slow
def test_train_leaves_the_scoring_to_metrics(pipeline: Pipeline) -> None:
    """TRAIN (the GPU task) does not score the integration; METRICS does, from the embeddings LATENT wrote."""
    train = pipeline.run("TRAIN")
    _assert_ran(train)
    assert "--skip-metrics" in train.rendered["command"]
    assert not (train.workdir / "metrics" / "integration.json").exists()
    metrics = pipeline.run("METRICS")
    _assert_ran(metrics)
    scores = json.loads((metrics.workdir / "metrics" / "integration.json").read_text())
    assert 0.0 <= scores["foscttm__rna__atac"] <= 0.5


def test_task_times_are_reported(pipeline: Pipeline, capsys) -> None:
    """Every task that ran has a wall and a CPU time (printed with -s: the CPU total is what CI pays)."""
    assert pipeline.runs
    with capsys.disabled():
        for name, run in sorted(pipeline.runs.items(), key=lambda kv: -kv[1].cpu_seconds):
            print(f"  {name:24s} {run.seconds:6.1f} s wall {run.cpu_seconds:6.1f} s cpu  exit {run.returncode}")
        print(f"  {'total':24s} {sum(r.seconds for r in pipeline.runs.values()):6.1f} s wall "
              f"{sum(r.cpu_seconds for r in pipeline.runs.values()):6.1f} s cpu")
    assert all(run.seconds > 0 and run.cpu_seconds > 0 for run in pipeline.runs.values())
