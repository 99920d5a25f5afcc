#!/usr/bin/env python3
"""Training with counts in memory against `--backed` (counts read from disk per minibatch): time, peak memory.

Takes a run folder that holds `preprocess/` and `priors/` (e.g. `bench/scale.py`'s results, or `crossomics
run` stopped after the priors stage), links them into two scratch folders under --workdir and runs
`crossomics train` in each, once without and once with `--backed`, in child processes with --threads
OMP/MKL/OPENBLAS threads, sampling their memory (`bench/scale.py`'s monitor). Prints wall time, peak RSS and
whether the two runs wrote identical joint embeddings.

    .venv/bin/python bench/backed_training.py --run /tmp/crossomics-scale/results_100000 \
        --input /tmp/crossomics-scale/data_100000/samplesheet.csv --workdir /tmp/backed-bench --max-epochs 2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import markdown_table, run_monitored, thread_env


def prepare(run: Path, dest: Path) -> Path:
    """``dest`` with links to ``run``'s preprocess/ and priors/ (inputs shared, outputs separate)."""
    dest.mkdir(parents=True, exist_ok=True)
    for sub in ("preprocess", "priors"):
        link = dest / sub
        if not link.exists():
            link.symlink_to((run / sub).resolve(), target_is_directory=True)
    return dest


def same_embeddings(a: Path, b: Path) -> bool | None:
    """Whether every ``integration/*.latent.h5ad`` of ``a`` and ``b`` holds the same ``X_crossomics``."""
    import anndata as ad
    import numpy as np

    files = sorted((a / "integration").glob("*.latent.h5ad"))
    if not files:
        return None
    return all(
        np.array_equal(
            ad.read_h5ad(f, backed="r").obsm["X_crossomics"],
            ad.read_h5ad(b / "integration" / f.name, backed="r").obsm["X_crossomics"],
        )
        for f in files
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="run folder with preprocess/ and priors/")
    parser.add_argument("--input", type=Path, required=True, help="its samplesheet")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/crossomics-backed-bench"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-epochs", type=int, default=None, help="cap on each stage's epochs (both runs)")
    args = parser.parse_args()

    rows = []
    for mode in ("memory", "backed"):
        out = prepare(args.run, args.workdir / mode)
        cmd = [sys.executable, "-m", "crossomics.cli", "train", "--input", str(args.input), "--outdir", str(out)]
        cmd += ["--device", "cpu"] + (["--max-epochs", str(args.max_epochs)] if args.max_epochs else [])
        cmd += ["--backed"] if mode == "backed" else []
        print(f"[backed-bench] {mode} ...", file=sys.stderr, flush=True)
        res = run_monitored(cmd, log=args.workdir / f"{mode}.log", env=thread_env(args.threads))
        peak = res["peak_rss_mib"]
        rows.append(
            {"counts": mode, "status": res["status"], "wall s": res["wall_s"], "cpu s": res["cpu_s"],
             "peak GiB": None if peak is None else peak / 1024}
        )
    print(markdown_table(rows, ["counts", "status", "wall s", "cpu s", "peak GiB"]))
    print(f"identical joint embeddings: {same_embeddings(args.workdir / 'memory', args.workdir / 'backed')}")


if __name__ == "__main__":
    main()
