#!/usr/bin/env python3
"""Side by side: crossomics and the peer tools (gene activity + Harmony, scGLUE, scCross, uniPort) on the same inputs.

One invocation: makes the SNARE-seq 3,000-cell subset and the peers' synthetic set with the peers' own scripts
(`../shared/peers/make_real_subset.py`, `make_synthetic.py`), runs crossomics (`crossomics run` + `crossomics
generate` ATAC -> RNA, converted to the files `score.py` reads) and each peer's runner one after another with one
thread each (OMP/MKL/OPENBLAS/NUMBA threads = 1; torch follows OMP_NUM_THREADS, the peers also call
torch.set_num_threads), scores every run with the peers' `score.py`, and prints one table per data set (wall time,
peak memory, every metric) and crossomics' ratio to each peer.

Times: total_s is what each tool timed itself, process_s its child process from start to exit, integ_s that without
the stages the peers do not run (simulate, perturb, report), same_work_s integ_s without the parts of crossomics'
train and generate stages that no peer runner does (its own metrics and scoring, the joint UMAP for its report, the
simulation prior; `stage_part_seconds` in its params.json). The peers' scoring runs outside their timing, in score.py.

Schedules: crossomics and the baseline run their defaults. scGLUE, scCross and uniPort derive hundreds to thousands of
epochs from the data size (hours per run on one CPU thread; README item 13), so they are capped with --max-epochs as
in ../shared/peers/README.md (synthetic 60, snare3k 20; --peer-epochs changes it) and the table says so.

A run whose timing.json says "ok" is kept and not re-run (--force re-runs); --tools / --datasets pick a part.
--bracket runs crossomics once more after the peers (``crossomics_after``): on a shared machine whose speed
drifts, the ratio is only fair between runs that follow each other, and the two crossomics rows bracket the peers.
Needs the peer venvs: `nice -n 19 bash ../shared/peers/setup_peers.sh` ($PEER_VENVS, default ~/.cache/crossomics-peers).

    nice -n 19 .venv/bin/python bench/compare_peers.py --workdir /tmp/crossomics-peers-bench
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PEERS = (REPO.parent / "shared" / "peers").resolve()
DATA = (REPO.parent / "shared" / "data").resolve()
VENVS = Path(os.environ.get("PEER_VENVS", Path.home() / ".cache" / "crossomics-peers"))
PEER_TOOLS = {
    "baseline": "run_baseline.py",
    "scglue": "run_scglue.py",
    "sccross": "run_sccross.py",
    "uniport": "run_uniport.py",
}
CAPPED = {"scglue", "sccross", "uniport"}  # tools given --max-epochs (their default schedules take hours)
DEFAULT_EPOCHS = {"synthetic": 60, "snare3k": 20}  # the caps of ../shared/peers/README.md
GENE_SETS = {
    "snare3k": DATA / "genesets" / "mouse_msigdb_m2_cp_v2023.1.gmt"
}  # synthetic genes have no gene sets
COLUMNS = [
    "run",
    "status",
    "epochs",
    "threads",
    "total_s",
    "process_s",
    "integ_s",
    "same_work_s",
    "peak_rss_mib",
    "foscttm",
    "ari_kmeans",
    "nmi_kmeans",
    "ari_leiden",
    "nmi_leiden",
    "asw_celltype",
    "asw_modality",
    "cross_gene_r_mean",
    "cross_cell_r_mean",
]
LOWER_IS_BETTER = {"total_s", "process_s", "integ_s", "same_work_s", "peak_rss_mib", "foscttm"}
# stages beyond integration + cross generation (scCross' runner simulates and perturbs; crossomics run also
# simulates, perturbs and reports): integ_s is process_s without them. process_s is the tool's child process from
# start to exit, Python start-up and imports included, for every tool; total_s is what the tool timed itself (the
# peers start their clock after importing torch, scanpy and their package: 3.4-8 s of start-up and imports here)
EXTRA_STAGES = {"multi_sim", "perturbation", "simulate", "perturb", "report"}
# parts of crossomics' train and generate stages that no peer runner does (``stage_part_seconds`` of
# its params.json): its own integration metrics and generation scoring, the joint UMAP its report draws,
# the prior its simulate stage samples from. same_work_s: integ_s without them (a peer's: its integ_s)
NOT_PEER_WORK = {"train": ("umap", "metrics", "simulation_prior"), "generate": ("fidelity",)}

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import markdown_table, run_monitored, thread_env


def peer_python(tool: str) -> Path:
    return VENVS / f".venv-{tool}" / "bin" / "python"


def _imports(python: Path, module: str) -> bool:
    """Whether ``python`` exists and imports ``module`` (a venv still being set up does not)."""
    import subprocess

    return (
        python.exists()
        and subprocess.run(
            [str(python), "-c", f"import {module}"], check=False, capture_output=True
        ).returncode
        == 0
    )


def make_data(name: str, root: Path, *, force: bool = False) -> Path:
    """``root/name`` with rna.h5ad, atac.h5ad and genes.gtf, made by the peers' scripts (in the scCross venv, as
    their README does; this venv when that one is missing)."""
    out = root / name
    if (out / "atac.h5ad").exists() and (out / "genes.gtf").exists() and not force:
        return out
    py = next(
        (p for p in (peer_python("sccross"), peer_python("baseline")) if _imports(p, "anndata")),
        Path(sys.executable),
    )
    if name == "snare3k":
        cmd = [
            str(py),
            str(PEERS / "make_real_subset.py"),
            "--rna",
            str(DATA / "snare_chen2019_mouse_cortex_rna.h5ad"),
            "--atac",
            str(DATA / "snare_chen2019_mouse_cortex_atac.h5ad"),
            "--gtf",
            str(DATA / "annotation" / "mm10_genes.gtf"),
            "--out",
            str(out),
            "--n-cells",
            "3000",
        ]
    elif name == "synthetic":
        cmd = [str(py), str(PEERS / "make_synthetic.py"), "--out", str(out)]
    else:
        msg = f"unknown data set {name!r} (snare3k, synthetic)"
        raise SystemExit(msg)
    res = run_monitored(cmd, log=root / f"make_{name}.log", env=thread_env(1))
    if res["status"] != "ok":
        msg = f"making {name} failed: see {root / f'make_{name}.log'}"
        raise SystemExit(msg)
    return out


def export_for_score(
    results: Path,
    rna_input: Path,
    atac_input: Path,
    out: Path,
    *,
    generated: Path | None = None,
    rna_sample: str = "rna",
    atac_sample: str = "atac",
) -> list[str]:
    """Write ``out/embeddings.npz`` (and ``out/cross_rna_from_atac.npz`` from ``generated``) as the peers do.

    Embeddings come from ``results/integration/<sample>.latent.h5ad`` (``obsm["X_crossomics"]``), one row per
    input cell in input order; cells QC removed are embedded with the trained model (``CrossModel.get_latent``
    on the whole input, those rows taken). Returns notes on what was filled in.
    """
    import anndata as ad
    import numpy as np
    import scipy.sparse as sp

    sys.path.insert(0, str(PEERS))
    from peer_common import write_cross, write_embeddings

    from crossomics._keys import KEYS

    notes, embs, names = [], {}, {}
    for sample, path in ((rna_sample, rna_input), (atac_sample, atac_input)):
        latent = ad.read_h5ad(results / "integration" / f"{sample}.latent.h5ad")
        cells = ad.read_h5ad(path, backed="r").obs_names
        rows = latent.obs_names.get_indexer(cells)
        emb = np.zeros((len(cells), latent.obsm[KEYS.latent].shape[1]), dtype=np.float32)
        emb[rows >= 0] = latent.obsm[KEYS.latent][rows[rows >= 0]]
        missing = np.flatnonzero(rows < 0)
        if missing.size:
            from crossomics.model import CrossModel

            model = CrossModel.load(results / "model", device="cpu")
            emb[missing] = model.get_latent(ad.read_h5ad(path), sample)[missing]
            notes.append(
                f"{sample}: {missing.size} of {len(cells)} cells removed by QC, embedded with the trained model"
            )
        embs[sample], names[sample] = emb, cells
    write_embeddings(
        str(out), "crossomics", embs[rna_sample], embs[atac_sample], names[rna_sample], names[atac_sample]
    )
    if generated is not None:
        gen = ad.read_h5ad(generated)
        x = gen.X.toarray() if sp.issparse(gen.X) else np.asarray(gen.X)
        write_cross(str(out), x, gen.var_names, gen.obs_names, "linear")
        notes.append(
            f"cross generation: {gen.n_obs} ATAC cells x {gen.n_vars} RNA features (expected counts)"
        )
    return notes


def run_crossomics(data: Path, out: Path, name: str, *, threads: int, seed: int) -> dict:
    """`crossomics run` (every stage, its generate stage included) + export; writes ``out/timing.json``."""
    py, env = sys.executable, thread_env(threads)
    results = out / "results"
    sheet = out / "samplesheet.csv"
    out.mkdir(parents=True, exist_ok=True)
    sheet.write_text(f"sample,modality,file\nrna,rna,{data / 'rna.h5ad'}\natac,atac,{data / 'atac.h5ad'}\n")
    cmd = [
        py,
        "-m",
        "crossomics.cli",
        "run",
        "--input",
        str(sheet),
        "--outdir",
        str(results),
        "--annotation",
        str(data / "genes.gtf"),
        "--device",
        "cpu",
        "--seed",
        str(seed),
    ]
    if name in GENE_SETS:
        cmd += ["--gene-sets", str(GENE_SETS[name])]
    info = {"tool": "crossomics", "threads": threads, "stages": {}, "notes": [], "peak_rss_mb": {}}
    run = run_monitored(cmd, log=out / "run.log", env=env)
    params = (
        json.loads((results / "pipeline_info" / "params.json").read_text()) if run["status"] == "ok" else {}
    )
    info["stages"].update(params.get("stage_seconds", {}))
    info["stage_parts"] = params.get("stage_part_seconds", {})
    info["peak_rss_mb"]["run"], walls = run["peak_rss_mib"], [run["wall_s"]]
    generated = results / "generation" / "atac_to_rna.h5ad"  # the run's own generate stage (ATAC -> RNA)
    if run["status"] == "ok" and not generated.exists():  # a runner without that stage: generate here
        generated = out / "generated_rna_from_atac.h5ad"
        gen = run_monitored(
            [py, "-m", "crossomics.cli", "generate", "--model", str(results / "model"), "--input",
             str(results / "preprocess" / "atac.h5ad"), "--source", "atac", "--target", "rna", "--out",
             str(generated), "--device", "cpu"],
            log=out / "generate.log",
            env=env,
        )  # fmt: skip
        info["stages"]["generate"], info["peak_rss_mb"]["generate"] = gen["wall_s"], gen["peak_rss_mib"]
        walls.append(gen["wall_s"])
        if gen["status"] != "ok":
            generated = None
            info["notes"].append(
                f"crossomics generate {gen['status']} (see generate.log): scored without cross_*"
            )
    start = time.monotonic()
    if run["status"] == "ok":
        info["notes"] += export_for_score(
            results, data / "rna.h5ad", data / "atac.h5ad", out, generated=generated
        )
    info["stages"]["export"] = round(time.monotonic() - start, 2)
    walls.append(info["stages"]["export"])
    info["status"] = run["status"]
    info["total_s"] = round(sum(walls), 2)
    info["notes"].append(
        "total_s: child-process walls incl. Python start-up and imports (peers time after imports)"
    )
    (out / "timing.json").write_text(json.dumps(info, indent=1))
    return info


def run_peer(tool: str, data: Path, out: Path, *, epochs: int | None, timeout: float, seed: int = 0) -> dict:
    """One peer runner in its own venv, one thread, seeded like crossomics; killed after ``timeout`` seconds."""
    cmd = [
        str(peer_python(tool)),
        "-W",
        "ignore",
        str(PEERS / PEER_TOOLS[tool]),
        "--rna",
        str(data / "rna.h5ad"),
        "--atac",
        str(data / "atac.h5ad"),
        "--gtf",
        str(data / "genes.gtf"),
        "--out",
        str(out),
        "--threads",
        "1",
        "--seed",
        str(seed),
    ]
    if epochs:
        cmd += ["--max-epochs", str(epochs)]
    res = run_monitored(cmd, log=out.parent / f"{tool}.log", env=thread_env(1), timeout=timeout)
    out.mkdir(parents=True, exist_ok=True)
    # the whole process, imports included: the peer's own timing.json starts after its imports
    (out / "process.json").write_text(json.dumps(res, indent=1))
    return res


def done(run_dir: Path) -> bool:
    t = run_dir / "timing.json"
    return (
        t.exists()
        and json.loads(t.read_text()).get("status") == "ok"
        and (run_dir / "embeddings.npz").exists()
    )


def score(data: Path, runs: list[Path], table: Path) -> list[dict]:
    """The peers' score.py (baseline venv) over ``runs``; returns each run's scores.json."""
    cmd = [
        str(peer_python("baseline")),
        "-W",
        "ignore",
        str(PEERS / "score.py"),
        "--rna",
        str(data / "rna.h5ad"),
        "--atac",
        str(data / "atac.h5ad"),
        "--runs",
        *map(str, runs),
        "--table",
        str(table),
    ]
    res = run_monitored(cmd, log=table.with_suffix(".log"), env=thread_env(1))
    if res["status"] != "ok":
        msg = f"score.py {res['status']}: see {table.with_suffix('.log')}"
        raise SystemExit(msg)
    return [json.loads((r / "scores.json").read_text()) for r in runs]


def process_seconds(run_dir: Path, row: dict) -> float | None:
    """Seconds from the tool's process start to its exit: crossomics' total_s (its child processes' walls and
    the export), a peer's from ``process.json`` (None for a peer run from before that file was written)."""
    if row["run"].startswith("crossomics"):
        return row.get("total_s")
    p = run_dir / "process.json"
    return round(json.loads(p.read_text())["wall_s"], 1) if p.exists() else None


def same_work_seconds(integ_s: float | None, stage_parts: dict[str, dict[str, float]]) -> float | None:
    """``integ_s`` without the ``NOT_PEER_WORK`` parts of crossomics' stages (a peer has no stage parts)."""
    if integ_s is None:
        return None
    own = sum(
        stage_parts.get(stage, {}).get(part, 0.0) for stage, parts in NOT_PEER_WORK.items() for part in parts
    )
    return round(integ_s - own, 1)


def ratio_rows(rows: list[dict], ours: str = "crossomics") -> list[dict]:
    """The crossomics run ``ours``' value / each peer's value for every numeric column (``LOWER_IS_BETTER``: < 1
    is better); the other crossomics runs (``crossomics_t2``, ``crossomics_after``) are not peers."""
    mine = next((r for r in rows if r["run"] == ours), None)
    if mine is None:
        return []
    out = []
    for r in rows:
        if r["run"].startswith("crossomics"):
            continue
        ratio = {"run": f"{ours} / {r['run']}"}
        for c in COLUMNS:
            a, b = mine.get(c), r.get(c)
            if (
                c not in ("epochs", "threads")
                and isinstance(a, int | float)
                and isinstance(b, int | float)
                and b
            ):
                ratio[c] = round(a / b, 3)
        out.append(ratio)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/crossomics-peers-bench"))
    parser.add_argument("--datasets", nargs="+", default=["snare3k", "synthetic"])
    parser.add_argument(
        "--tools",
        nargs="+",
        default=["crossomics", "baseline", "scglue", "sccross"],
        help="crossomics and any of: " + ", ".join(PEER_TOOLS),
    )
    parser.add_argument(
        "--peer-epochs",
        nargs="*",
        default=[],
        metavar="DATASET=N",
        help="epoch cap of the capped peers per data set (default: synthetic=60 snare3k=20)",
    )
    parser.add_argument(
        "--crossomics-threads",
        type=int,
        nargs="+",
        default=[1],
        help="thread counts for crossomics; runs past the first are named crossomics_t<N>",
    )
    parser.add_argument(
        "--bracket",
        action="store_true",
        help="run crossomics again after the peers (as crossomics_after), so that its two times bracket theirs: "
        "this box's speed drifts by tens of percent within hours",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds before a peer run is killed")
    parser.add_argument("--seed", type=int, default=0, help="seed of every tool's run")
    parser.add_argument("--force", action="store_true", help="re-run runs that already finished")
    parser.add_argument("--score-only", action="store_true", help="score and tabulate the runs already there")
    args = parser.parse_args()

    epochs = dict(DEFAULT_EPOCHS) | {k: int(v) for k, v in (s.split("=") for s in args.peer_epochs)}
    report = []
    for name in args.datasets:
        data = make_data(name, args.workdir / "data", force=False)
        runs_dir = args.workdir / "runs" / name
        runs: list[Path] = []
        tools = list(args.tools)
        if args.bracket and "crossomics" in tools and len(tools) > 1:
            tools.append("crossomics_after")
        for tool in tools:
            targets = (
                [
                    (f"crossomics{'' if i == 0 else f'_t{t}'}", t)
                    for i, t in enumerate(args.crossomics_threads)
                ]
                if tool == "crossomics"
                else [(tool, args.crossomics_threads[0] if tool == "crossomics_after" else 1)]
            )
            for run_name, threads in targets:
                out = runs_dir / run_name
                if not args.score_only and (args.force or not done(out)):
                    print(f"[compare] {name}: {run_name} ...", file=sys.stderr, flush=True)
                    if tool.startswith("crossomics"):
                        res = run_crossomics(data, out, name, threads=threads, seed=args.seed)
                    else:
                        res = run_peer(
                            tool,
                            data,
                            out,
                            epochs=epochs[name] if tool in CAPPED else None,
                            timeout=args.timeout,
                            seed=args.seed,
                        )
                    print(f"[compare] {name}: {run_name} {res['status']}", file=sys.stderr, flush=True)
                if (out / "embeddings.npz").exists():
                    runs.append(out)
        if not runs:
            continue
        rows = score(data, runs, runs_dir / "results.md")
        for r in rows:
            r["epochs"] = f"capped {epochs[name]}" if r["run"] in CAPPED else "default"
            t = json.loads((runs_dir / r["run"] / "timing.json").read_text())
            r["threads"] = t.get("threads", t.get("args", {}).get("threads"))
            r["process_s"] = process_seconds(runs_dir / r["run"], r)
            extra = sum(v for k, v in t.get("stages", {}).items() if k in EXTRA_STAGES)
            r["integ_s"] = None if r["process_s"] is None else round(r["process_s"] - extra, 1)
            r["same_work_s"] = same_work_seconds(r["integ_s"], t.get("stage_parts", {}))
        block = [
            f"### {name} ({data}); cross_* on the genes every generating run produced",
            markdown_table(rows, COLUMNS),
            "",
            "crossomics / peer (time, memory, FOSCTTM: below 1 is better; other metrics: above 1 is better)",
            markdown_table(
                ratio_rows(rows) + ratio_rows(rows, ours="crossomics_after"),
                [c for c in COLUMNS if c not in ("status", "epochs", "threads")],
            ),
        ]
        report.append("\n".join(block))
        print(report[-1] + "\n", flush=True)
    (args.workdir / "report.md").write_text("\n\n".join(report) + "\n")


if __name__ == "__main__":
    main()
