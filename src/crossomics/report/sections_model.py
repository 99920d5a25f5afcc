"""Report sections over what the model is built from and how it learned: priors and training curves."""

from __future__ import annotations

import numpy as np

from .._keys import KEYS
from . import _inputs as inp
from ._content import Content, bargraph, linegraph, table
from .sections import Context

#: loss terms of ``model/history.csv`` in the order the training plots list them
LOSS_TERMS = ("total", "nll", "kl", "cycle", "anchor", "discriminator")


def priors_section(ctx: Context) -> list[Content]:
    """Priors: genes matched by gene activity, gene sets used, anchors per modality pair, their precision."""
    out = []
    ga = {
        inp.stem(p, ".gene_activity.h5ad"): inp.h5ad_uns(p, KEYS.gene_activity)
        for p in inp.files(ctx.layout, "priors", "*.gene_activity.h5ad")
    }
    if ga:
        rows = {
            s: {
                "Genes": u.get("n_genes"),
                "Genes requested": u.get("n_genes_requested"),
                "Genes with a peak": u.get("n_genes_with_peak"),
                "Peaks": u.get("n_peaks"),
                "Peaks matched to a gene": u.get("n_peaks_matched"),
                "Weighting": u.get("weighting", ""),
            }
            for s, u in ga.items()
        }
        out.append(
            table(
                "crossomics_priors_gene_activity",
                "Gene activity",
                "ATAC peaks summed over gene windows: genes matched and peaks used.",
                rows,
                first_column="Sample",
            )
        )
    gs = {
        inp.stem(p, ".genesets.h5ad"): inp.h5ad_uns(p, KEYS.gene_sets)
        for p in inp.files(ctx.layout, "priors", "*.genesets.h5ad")
    }
    if gs:
        sets = {
            s: {
                "used": u.get("n_sets_used", 0),
                "skipped: too few genes": u.get("n_sets_skipped_too_few_genes", 0),
                "skipped: too many genes": u.get("n_sets_skipped_too_many_genes", 0),
            }
            for s, u in gs.items()
        }
        out.append(
            bargraph(
                "crossomics_priors_gene_sets",
                "Gene sets",
                "Gene sets scored per sample, and those "
                "skipped for having too few or too many of their genes in the data.",
                sets,
                ylab="gene sets",
            )
        )
    out += _anchors(ctx)
    return out


def _anchors(ctx: Context) -> list[Content]:
    metrics = inp.read_json(inp.out_path(ctx.layout, "metrics", "anchors.json")) or {}
    for p in inp.files(ctx.layout, "priors", "anchors_*.tsv"):
        pair = inp.stem(p, ".tsv")[len("anchors_") :]
        if pair not in metrics:
            t = inp.read_table(p)
            metrics[pair] = {
                "n_anchors": len(t),
                "n_cells_a": t["cell_a"].nunique(),
                "n_cells_b": t["cell_b"].nunique(),
            }
    if not metrics:
        return []
    label = {pair: pair.replace("__", " ↔ ") for pair in metrics}
    out = [
        bargraph(
            "crossomics_priors_anchors",
            "Anchors per modality pair",
            "Mutual-nearest-neighbour anchor pairs between the cells of two samples.",
            {label[p]: {"anchors": m.get("n_anchors", 0)} for p, m in metrics.items()},
            ylab="anchor pairs",
        )
    ]
    rows = {
        label[p]: {
            "Anchors": m.get("n_anchors"),
            "Cells with an anchor (A)": m.get("n_cells_a"),
            "Cells with an anchor (B)": m.get("n_cells_b"),
            "Precision (same cell type)": m.get("precision"),
            "Cell types covered": m.get("cell_types_covered"),
        }
        for p, m in metrics.items()
    }
    heads = {
        "Precision (same cell type)": {"min": 0, "max": 1, "format": "{:.3f}", "scale": "RdYlGn"},
        "Cell types covered": {"min": 0, "max": 1, "format": "{:.2f}"},
    }
    out.append(
        table(
            "crossomics_priors_anchor_table",
            "Anchor precision",
            "Precision: fraction of anchor pairs "
            "joining cells of the same annotated type (empty when the samples carry no labels).",
            rows,
            headers=heads,
            first_column="Pair",
        )
    )
    return out


def training_section(ctx: Context) -> list[Content]:
    """Training curves: every loss term per epoch (train and validation), both stages, learning rate."""
    h = inp.history(ctx.layout)
    if h is None or h.empty:
        return []
    h = h.reset_index(drop=True)
    x = np.arange(1, len(h) + 1, dtype=float)
    stages = h["stage"].to_numpy() if "stage" in h else np.ones(len(h))
    starts = [float(x[i]) - 0.5 for i in range(1, len(h)) if stages[i] != stages[i - 1]]
    lines = [
        {"value": s, "color": "#999999", "dash": "dash", "label": f"stage {int(stages[int(s + 0.5) - 1])}"}
        for s in starts
    ]
    domains = sorted(
        {d for d in ctx.samples() if any(c.endswith(f"_{d}") for c in h.columns)}, key=len, reverse=True
    )
    datasets: dict[str, dict[str, dict[float, float]]] = {}
    for col in h.columns:
        split, _, rest = col.partition("_")
        if split not in ("train", "val") or not rest:
            continue
        term, series = rest, split
        for d in domains:
            if rest.endswith(f"_{d}"):
                term, series = rest[: -len(d) - 1], f"{split} {d}"
                break
        values = h[col].to_numpy(dtype=float)
        pts = {float(xi): float(v) for xi, v in zip(x, values, strict=True) if np.isfinite(v)}
        if pts:
            datasets.setdefault(term, {})[series] = pts
    if not datasets:
        return []
    terms = sorted(datasets, key=lambda t: (LOSS_TERMS.index(t) if t in LOSS_TERMS else len(LOSS_TERMS), t))
    labels = [{"name": t, "ylab": f"{t} loss"} for t in terms]
    if "lr" in h:
        datasets["learning rate"] = {
            "learning rate": dict(zip(x.tolist(), h["lr"].astype(float).tolist(), strict=True))
        }
        terms.append("learning rate")
        labels.append({"name": "learning rate", "ylab": "learning rate"})
    desc = (
        "Loss terms per epoch over both training stages (stage 1: VAE pretraining; stage 2: alignment with "
        "the discriminator, cycle and anchor terms): `train` on training batches, `val` on held-out cells. "
        "The buttons switch between terms and the learning rate."
    )
    return [
        linegraph(
            "crossomics_training_losses",
            "Loss terms per epoch",
            desc,
            [datasets[t] for t in terms],
            labels,
            xlab="epoch (both stages)",
            ylab="loss",
            x_lines=lines,
            showlegend=True,
        )
    ]
