#!/usr/bin/env python3
"""Scale benchmark: full `crossomics run` on simulated paired RNA + ATAC at growing cell counts (CPU default).

Per size: simulate (`crossomics.datasets.scale.write_scale`: 2,000 genes, 50,000 peaks, sparse counts; in a
child process, not timed as part of the run), then `crossomics run --device DEVICE` (--device, default cpu;
stages named by --skip left out) in a child process with OMP/MKL/OPENBLAS threads set to --threads. Wall
seconds per stage come from the run's `pipeline_info/params.json` (from its `[stage] ... (N s)` lines when
the run was killed or failed); peak RSS per stage from sampling the child's /proc status (VmRSS of the process
tree every 0.2 s, and the kernel's exact high-water mark VmHWM); the whole run's peak from wait4's rusage.
Results accumulate in WORKDIR/scale_results.json (one entry per size, re-runs replace it); the table is
printed and time and memory against cells are plotted.

    nice -n 19 .venv/bin/python bench/scale.py --sizes 10000 30000 --workdir /tmp/crossomics-scale
    python bench/scale.py --sizes 100000 --device cuda --skip report --threads 10 --timeout 330 --workdir W
    .venv/bin/python bench/scale.py --plot-only --workdir /tmp/crossomics-scale   # table + figure again
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLOT = REPO / "docs" / "images" / "scale.png"
# a stage's line from `crossomics run`, after any progress-bar text; "(38.6 s)" or "(38.6 s: fit 31.0, umap 3.6)"
STAGE_LINE = re.compile(r"\[(?P<stage>[a-z][a-z+_-]*)\] .*\((?P<sec>[\d.]+) s(?:: [^()]*)?\)\s*$")
SAMPLE_EVERY = 0.2  # seconds between RSS samples
TARGET_S, TARGET_GIB, TARGET_CELLS = 30 * 60, 8.0, 100_000  # issue 10: 100k cells in <= 30 min, <= 8 GiB


def thread_env(threads: int) -> dict[str, str]:
    """This process's environment with every thread pool of the child pinned to ``threads``."""
    env = dict(os.environ)
    for var in (
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "NUMBA_NUM_THREADS",
        "PEER_THREADS",
    ):
        env[var] = str(threads)
    return env


def _proc_kib(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    kids = [int(k) for k in fh.read().split()]
                out += kids
                todo += kids
        except (FileNotFoundError, ProcessLookupError):
            continue
    return out


def stage_peaks(
    samples: list[tuple[float, float, float]], marks: list[tuple[float, str]]
) -> dict[str, float]:
    """Peak MiB per stage from RSS samples ``(t, tree_rss_mib, hwm_mib)`` and stage ends ``(t, stage)``.

    A stage owns the samples after the previous stage's end up to its own end. Its peak is the largest
    sampled RSS in that window, raised to the high-water mark at the window's end when the mark rose during
    the window (the kernel saw a peak between two samples).
    """
    peaks: dict[str, float] = {}
    start, hwm_before = float("-inf"), 0.0
    for end, stage in marks:
        window = [s for s in samples if start < s[0] <= end]
        peak = max((s[1] for s in window), default=0.0)
        hwm_end = max((s[2] for s in window), default=hwm_before)
        if hwm_end > hwm_before:
            peak = max(peak, hwm_end)
        peaks[stage] = round(peak, 1)
        start, hwm_before = end, max(hwm_before, hwm_end)
    return peaks


def run_monitored(
    cmd: list[str],
    *,
    log: Path,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    max_rss_gib: float | None = None,
    cwd: Path | None = None,
) -> dict:
    """Run ``cmd`` (output to ``log``), sampling its memory; returns status, wall, peak and per-stage peaks.

    Stage ends are the ``[stage] ... (N s)`` lines `crossomics run` prints. The child is killed (its whole
    process group) past ``timeout`` seconds or ``max_rss_gib``; ``status`` then says so.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    marks: list[tuple[float, str]] = []
    stage_s: dict[str, float] = {}  # seconds of each stage as the run printed them
    samples: list[tuple[float, float, float]] = []
    t0 = time.monotonic()
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )

        def reader() -> None:
            for line in proc.stdout:
                fh.write(line)
                fh.flush()
                m = STAGE_LINE.search(line.strip())
                if m:
                    marks.append((time.monotonic() - t0, m["stage"]))
                    stage_s[m["stage"]] = float(m["sec"])

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        status, rusage, code = "ok", None, None
        while True:
            pid, wstatus, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                code, rusage = os.waitstatus_to_exitcode(wstatus), ru
                break
            now = time.monotonic() - t0
            tree = sum(_proc_kib(p, "VmRSS") for p in [proc.pid, *_descendants(proc.pid)]) / 1024
            samples.append((now, tree, _proc_kib(proc.pid, "VmHWM") / 1024))
            over = (timeout and now > timeout and "timeout") or (
                max_rss_gib and tree > max_rss_gib * 1024 and "memory"
            )
            if over and status == "ok":
                status = f"killed ({over}: {now:.0f} s, {tree / 1024:.1f} GiB)"
                os.killpg(proc.pid, signal.SIGKILL)
            time.sleep(SAMPLE_EVERY)
        proc.returncode = code
        thread.join(timeout=10)
    if status == "ok" and code != 0:
        status = f"failed (exit {code})"
    wall = time.monotonic() - t0
    marks.append((wall, "exit"))
    return {
        "status": status,
        "wall_s": round(wall, 2),
        "peak_rss_mib": round(rusage.ru_maxrss / 1024, 1) if rusage else None,
        "stage_peak_mib": stage_peaks(samples, marks),
        "stage_s_printed": stage_s,
        "cpu_s": round(rusage.ru_utime + rusage.ru_stime, 1) if rusage else None,
    }


def run_size(
    n_cells: int,
    workdir: Path,
    *,
    threads: int,
    timeout: float | None,
    max_rss_gib: float | None,
    max_epochs: int | None,
    seed: int,
    device: str = "cpu",
    skip_steps: frozenset[str] = frozenset(),
) -> dict:
    """Simulate ``n_cells`` cells (if not there yet) and time `crossomics run` on them."""
    data, results = workdir / f"data_{n_cells}", workdir / f"results_{n_cells}"
    py = sys.executable
    entry: dict = {"n_cells": n_cells, "threads": threads, "device": device}
    if not (data / "scale.json").exists():
        code = f"from crossomics.datasets.scale import write_scale; write_scale({str(data)!r}, n_cells={n_cells}, seed={seed})"
        sim = run_monitored(
            [py, "-c", code], log=workdir / f"simulate_{n_cells}.log", env=thread_env(threads)
        )
        entry["simulate"] = {k: sim[k] for k in ("status", "wall_s", "peak_rss_mib")}
        if sim["status"] != "ok":
            entry["status"] = "simulation " + sim["status"]
            return entry
    entry["data"] = json.loads((data / "scale.json").read_text())
    cmd = [
        py,
        "-m",
        "crossomics.cli",
        "run",
        "--input",
        str(data / "samplesheet.csv"),
        "--outdir",
        str(results),
        "--annotation",
        str(data / "genes.gtf"),
        "--gene-sets",
        str(data / "genesets.gmt"),
        "--device",
        device,
        "--seed",
        str(seed),
    ]
    if max_epochs:
        cmd += ["--max-epochs", str(max_epochs)]
    for step in sorted(skip_steps):
        cmd += ["--skip", step]
    res = run_monitored(
        cmd,
        log=workdir / f"run_{n_cells}.log",
        env=thread_env(threads),
        timeout=timeout,
        max_rss_gib=max_rss_gib,
    )
    params = results / "pipeline_info" / "params.json"
    info = json.loads(params.read_text()) if res["status"] == "ok" and params.exists() else {}
    stage_s = info.get("stage_seconds", res["stage_s_printed"])  # printed: the stages done before a kill
    entry.update(
        status=res["status"],
        wall_s=res["wall_s"],
        cpu_s=res["cpu_s"],
        peak_rss_mib=res["peak_rss_mib"],
        stage_seconds=stage_s,
        stage_part_seconds=info.get("stage_part_seconds", {}),
        stage_peak_mib={k: v for k, v in res["stage_peak_mib"].items() if k != "exit"},
    )
    return entry


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    """A GitHub markdown table (floats with thousands separators, to 1 decimal below 100)."""

    def fmt(v) -> str:
        if isinstance(v, float):
            return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3f}" if abs(v) < 1 else f"{v:.1f}"
        return f"{v:,}" if isinstance(v, int) else ("" if v is None else str(v))

    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---:" if i else ":---" for i in range(len(columns))) + "|",
    ]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def table(entries: list[dict]) -> str:
    """One row per size: seconds and peak GiB of each stage, then the whole run."""
    stages = list(dict.fromkeys(s for e in entries for s in e.get("stage_seconds", {})))
    rows = []
    for e in entries:
        row = {"cells": e["n_cells"], "status": e.get("status")}
        for s in stages:
            row[f"{s} s"] = e.get("stage_seconds", {}).get(s)
            peak = e.get("stage_peak_mib", {}).get(s)
            row[f"{s} GiB"] = None if peak is None else peak / 1024
        row["total s"], row["cpu s"] = e.get("wall_s"), e.get("cpu_s")
        row["peak GiB"] = None if e.get("peak_rss_mib") is None else e["peak_rss_mib"] / 1024
        rows.append(row)
    cols = [
        "cells",
        "status",
        *[f"{s} {u}" for s in stages for u in ("s", "GiB")],
        "total s",
        "cpu s",
        "peak GiB",
    ]
    return markdown_table(rows, cols)


def growth_exponents(entries: list[dict]) -> list[str]:
    """log-log slope of total wall time and peak memory between consecutive sizes (1 = linear)."""
    import math

    ok = sorted((e for e in entries if e.get("status") == "ok"), key=lambda e: e["n_cells"])
    out = []
    for a, b in itertools.pairwise(ok):
        k = math.log(b["n_cells"] / a["n_cells"])
        out.append(
            f"{a['n_cells']:,} -> {b['n_cells']:,} cells: time x{b['wall_s'] / a['wall_s']:.2f} "
            f"(exponent {math.log(b['wall_s'] / a['wall_s']) / k:.2f}), peak memory "
            f"x{b['peak_rss_mib'] / a['peak_rss_mib']:.2f} (exponent {math.log(b['peak_rss_mib'] / a['peak_rss_mib']) / k:.2f})"
        )
    return out


def plot(entries: list[dict], path: Path) -> None:
    """Wall time and peak RSS (per stage and in all) against cells, log-log, with the issue's targets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = sorted((e for e in entries if e.get("status") == "ok"), key=lambda e: e["n_cells"])
    if not ok:
        return
    cells = [e["n_cells"] for e in ok]
    stages = list(dict.fromkeys(s for e in ok for s in e["stage_seconds"]))
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4.2))
    for s in stages:
        ax_t.plot(cells, [max(e["stage_seconds"].get(s, 0), 0.01) for e in ok], marker="o", lw=1, label=s)
        mem = [
            (c, e["stage_peak_mib"][s] / 1024)
            for c, e in zip(cells, ok, strict=True)
            if e["stage_peak_mib"].get(s)
        ]
        if mem:  # a stage whose end was not seen has no peak
            ax_m.plot(*zip(*mem, strict=True), marker="o", lw=1, label=s)
    ax_t.plot(cells, [e["wall_s"] for e in ok], marker="s", lw=2.5, color="black", label="total")
    ax_m.plot(
        cells, [e["peak_rss_mib"] / 1024 for e in ok], marker="s", lw=2.5, color="black", label="whole run"
    )
    ref = [ok[0]["wall_s"] * c / cells[0] for c in (cells[0], TARGET_CELLS)]
    ax_t.plot((cells[0], TARGET_CELLS), ref, ls="--", color="grey", label="linear from smallest")
    ax_t.scatter(
        [TARGET_CELLS], [TARGET_S], marker="*", s=150, color="red", label="target: 100k in 30 min", zorder=5
    )
    ax_m.axhline(TARGET_GIB, ls=":", color="red", label="8 GiB target")
    ax_t.set(
        xscale="log",
        yscale="log",
        xlabel="cells per modality",
        ylabel="wall seconds",
        title="crossomics run, "
        + ", ".join(sorted({f"{e.get('device', 'cpu')}, {e['threads']} threads" for e in ok})),
    )
    ax_m.set(
        xscale="log", xlabel="cells per modality", ylabel="peak RSS (GiB)", title="peak memory per stage"
    )
    for ax in (ax_t, ax_m):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/crossomics-scale"))
    parser.add_argument("--threads", type=int, default=2, help="OMP/MKL/OPENBLAS threads of the run")
    parser.add_argument("--timeout", type=float, default=None, help="kill a run after this many seconds")
    parser.add_argument("--max-rss-gib", type=float, default=None, help="kill a run above this RSS")
    parser.add_argument("--max-epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="--device of `crossomics run` (cpu, cuda, auto)")
    parser.add_argument(
        "--skip", nargs="+", default=[], metavar="STAGE", help="run stages to leave out (e.g. report)"
    )
    parser.add_argument("--plot", type=Path, default=PLOT)
    parser.add_argument(
        "--keep-generated",
        action="store_true",
        help="keep each size's generation/*.h5ad (dense decoded cells x features: 20 GB at 100k cells); by "
        "default they are deleted once the size is timed",
    )
    parser.add_argument(
        "--plot-only", action="store_true", help="table and figure from WORKDIR/scale_results.json"
    )
    args = parser.parse_args()
    from crossomics.runner import steps_leaving_out

    try:  # stage names (report) -> `crossomics run --skip` steps; a wrong name fails before any simulation
        skip_steps = steps_leaving_out(args.skip)
    except ValueError as err:
        parser.error(f"--skip: {err}")

    args.workdir.mkdir(parents=True, exist_ok=True)
    store = args.workdir / "scale_results.json"
    entries = json.loads(store.read_text()) if store.exists() else []
    if not args.plot_only:
        for n in args.sizes:
            print(f"[scale] {n:,} cells ...", file=sys.stderr, flush=True)
            entry = run_size(
                n,
                args.workdir,
                threads=args.threads,
                timeout=args.timeout,
                max_rss_gib=args.max_rss_gib,
                max_epochs=args.max_epochs,
                seed=args.seed,
                device=args.device,
                skip_steps=skip_steps,
            )
            if not args.keep_generated:
                for path in (args.workdir / f"results_{n}" / "generation").glob("*.h5ad"):
                    path.unlink()
            entries = [e for e in entries if e["n_cells"] != n] + [entry]
            entries.sort(key=lambda e: e["n_cells"])
            store.write_text(json.dumps(entries, indent=1))
            print(
                f"[scale] {n:,} cells: {entry.get('status')} in {entry.get('wall_s')} s",
                file=sys.stderr,
                flush=True,
            )
    print(table(entries))
    for line in growth_exponents(entries):
        print(line)
    plot(entries, args.plot)
    print(f"figure: {args.plot}")


if __name__ == "__main__":
    main()
