#!/usr/bin/env python3
"""Benchmark: `crossomics run` on the SNARE-seq mouse cortex RNA+ATAC pair, unpaired, default settings.

Prints FOSCTTM, Leiden ARI/NMI, cell-type ASW, modality mixing, label transfer, wall time and peak memory,
next to the bars of issue 5 and the peers' figures measured on the same data (../shared/peers/README.md).

    .venv/bin/python bench/snare_integration.py [--n-cells N] [--outdir DIR] [--device auto] [--data DIR]
        [--skip report]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import anndata as ad
import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BARS = {"foscttm": ("<=", 0.10), "ari_leiden": (">=", 0.40), "asw_celltype": (">=", 0.53), "modality_mixing": (">=", 0.85)}
PEERS = {"scGLUE (full set, 47 min)": {"foscttm": 0.114, "ari_leiden": 0.349, "asw_celltype": 0.527, "modality_mixing": 0.886},
         "gene activity + Harmony": {"foscttm": 0.240, "ari_leiden": 0.264}}


def write_inputs(root: Path, n_cells: int | None, seed: int, data: Path = DATA) -> Path:
    """The samplesheet (and, for a subset, the subset files) under ``root``."""
    rna = data / "snare_chen2019_mouse_cortex_rna.h5ad"
    atac = data / "snare_chen2019_mouse_cortex_atac.h5ad"
    if n_cells:
        r, a = ad.read_h5ad(rna), ad.read_h5ad(atac)
        keep = np.sort(np.random.default_rng(seed).choice(r.n_obs, n_cells, replace=False))
        rna, atac = root / "rna.h5ad", root / "atac.h5ad"
        r[keep].copy().write_h5ad(rna)
        a[keep].copy().write_h5ad(atac)
    sheet = root / "samplesheet.csv"
    sheet.write_text(f"sample,modality,file\nrna,rna,{rna}\natac,atac,{atac}\n")
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-cells", type=int, default=None, help="random subset of cells (default: all 10,309)")
    parser.add_argument("--outdir", type=Path, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--max-epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=DATA, help="folder laid out like ../shared/data (default)")
    parser.add_argument("--skip", nargs="+", default=[], metavar="STAGE",
                        help="leave these stages of `crossomics run` out (e.g. report: needs MultiQC)")
    args = parser.parse_args()

    from crossomics.runner import RunOptions, run_all, steps_leaving_out

    try:
        skip = steps_leaving_out(args.skip)
    except ValueError as err:
        parser.error(f"--skip: {err}")
    root = args.outdir or Path(tempfile.mkdtemp(prefix="crossomics-snare-"))
    root.mkdir(parents=True, exist_ok=True)
    args.data = args.data.resolve()  # the samplesheet lives elsewhere: relative paths would break
    sheet = write_inputs(root, args.n_cells, args.seed, args.data)
    start = time.perf_counter()
    timings = run_all(
        RunOptions(
            input=sheet,
            outdir=root / "results",
            device=args.device,
            seed=args.seed,
            max_epochs=args.max_epochs,
            annotation=args.data / "annotation" / "mm10_genes.gtf",
            gene_sets=[args.data / "genesets" / "mouse_msigdb_m2_cp_v2023.1.gmt"],
            skip=skip,
        ),
        echo=lambda line: print(line, file=sys.stderr),
    )
    wall = time.perf_counter() - start
    peak_gib = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 2**20
    m = json.loads((root / "results" / "metrics" / "integration.json").read_text())
    figures = {
        "foscttm": m["foscttm__rna__atac"],
        "ari_leiden": m["ari_leiden"],
        "nmi_leiden": m["nmi_leiden"],
        "asw_celltype": m["asw_celltype"],
        "modality_mixing": m["modality_mixing"],
        "label_transfer_rna_to_atac": m["label_transfer__rna__atac"],
        "wall_s": round(wall, 1),
        "peak_rss_gib": round(peak_gib, 2),
    }
    print(f"SNARE-seq {'all cells' if not args.n_cells else f'{args.n_cells} cells'}, unpaired, seed {args.seed}; stages (s): {timings}")
    print(f"{'metric':<28}{'crossomics':>12}{'bar':>10}  peers")
    for key, value in figures.items():
        op, bar = BARS.get(key, ("", None))
        ok = "" if bar is None else ("  ok" if (value <= bar if op == "<=" else value >= bar) else "  MISSED")
        peers = ", ".join(f"{name} {vals[key]}" for name, vals in PEERS.items() if key in vals)
        print(f"{key:<28}{value:>12.3f}{(op + str(bar)) if bar is not None else '':>10}{ok}  {peers}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
