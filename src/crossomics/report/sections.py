"""Report sections over the output layout: samples, QC, priors and training (results: :mod:`.sections_results`).

Each ``*_section`` function reads one part of the layout and returns its subsections as :class:`Content`;
an empty list means the inputs are absent and the section is left out with a note (see :data:`SECTIONS`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._keys import KEYS
from ..io.layout import Layout
from ..io.samplesheet import SampleRow
from . import _inputs as inp
from ._content import Content, Section, bargraph, box, linegraph, table

#: loss terms of ``model/history.csv`` in the order the training plots list them
LOSS_TERMS = ("total", "nll", "kl", "cycle", "anchor", "discriminator")


@dataclass
class Context:
    """What every section builder gets: the layout, the samplesheet rows if known, a figure folder, a seed."""

    layout: Layout
    rows: list[SampleRow] | None
    figures: Path
    seed: int = 0

    def samples(self) -> list[str]:
        """Sample ids known from the samplesheet, QC outputs and the model (in that order, no duplicates)."""
        names = [r.sample for r in self.rows or []]
        names += [inp.stem(p, ".qc.json") for p in inp.files(self.layout, "qc", "*.qc.json")]
        model = inp.read_json(inp.out_path(self.layout, "model", "model.json")) or {}
        names += [d["name"] for d in model.get("domains", []) if isinstance(d, dict) and "name" in d]
        return list(dict.fromkeys(names))


def samples_section(ctx: Context) -> list[Content]:
    """Samplesheet summary: one row per sample (modality, batch, condition, cells through the stages)."""
    qc = {inp.stem(p, ".qc.json"): inp.read_json(p) for p in inp.files(ctx.layout, "qc", "*.qc.json")}
    in_model = {inp.stem(p, ".latent.h5ad"): inp.h5ad_shape(p)[0]
                for p in inp.files(ctx.layout, "integration", "*.latent.h5ad")}
    if not in_model:
        try:
            integ = inp.read_json(inp.out_path(ctx.layout, "metrics", "integration.json")) or {}
        except ValueError:  # the integration section reports an unreadable file
            integ = {}
        in_model = integ.get("n_cells", {}) if isinstance(integ.get("n_cells"), dict) else {}
    rows: dict[str, dict] = {}
    for r in ctx.rows or []:
        rows[r.sample] = {"Modality": r.modality, "Batch": r.batch or "", "Condition": r.condition or "",
                          "File": r.file.name}
    for sample in sorted(set(qc) | set(in_model)):
        row = rows.setdefault(sample, {"Modality": (qc.get(sample) or {}).get("modality", "")})
        q = qc.get(sample) or {}
        row.update({"Cells in": q.get("cells_in"), "Cells after QC": q.get("cells_out"),
                    "Features after QC": q.get("features_out"), "Cells in joint space": in_model.get(sample)})
    if not rows:
        return []
    source = "the samplesheet" if ctx.rows else "the QC and integration outputs (no samplesheet given)"
    heads = {c: {"format": "{:,.0f}"} for c in ("Cells in", "Cells after QC", "Features after QC", "Cells in joint space")}
    out = [table("crossomics_samples_table", "Samplesheet summary", f"One row per sample, from {source}.", rows,
                 headers=heads, first_column="Sample")]
    counts = _cell_types(ctx)
    if counts:
        cats = sorted({t for c in counts.values() for t in c})
        out.append(bargraph("crossomics_samples_cell_types", "Cell types per sample",
                            "Cells of each annotated type (obs `cell_type`) in each sample after QC.", counts,
                            categories={c: {"name": c} for c in cats}, ylab="cells", cpswitch=True, sort_samples=False))
    return out


def _cell_types(ctx: Context) -> dict[str, dict[str, int]]:
    counts = {}
    for p in inp.files(ctx.layout, "qc", "*.qc.h5ad"):
        obs = inp.h5ad_obs(p)
        if KEYS.cell_type in obs:
            counts[inp.stem(p, ".qc.h5ad")] = obs[KEYS.cell_type].astype(str).value_counts().to_dict()
    if not counts:
        for sample, obs in inp.latents(ctx.layout).items():
            if KEYS.cell_type in obs:
                counts[sample] = obs[KEYS.cell_type].astype(str).value_counts().to_dict()
    return counts


_REMOVED = {"removed_min_counts": "too few counts", "removed_min_features": "too few features",
            "removed_max_pct_mito": "too many mitochondrial reads", "removed_max_counts_quantile": "above count quantile"}
_THRESHOLDS = {"threshold_min_counts": "Min counts", "threshold_min_features": "Min features",
               "threshold_max_pct_mito": "Max % mito", "threshold_max_counts_quantile": "Max counts quantile",
               "threshold_min_cells_per_feature": "Min cells per feature",
               "median_n_counts_before": "Median counts (before)", "median_n_counts_after": "Median counts (after)",
               "median_n_features_before": "Median features (before)",
               "median_n_features_after": "Median features (after)",
               "features_in": "Features in", "features_out": "Features kept"}


def qc_section(ctx: Context) -> list[Content]:
    """Per-sample QC: cells kept and removed per filter, per-cell counts and features, thresholds."""
    qc = {inp.stem(p, ".qc.json"): inp.read_json(p) for p in inp.files(ctx.layout, "qc", "*.qc.json")}
    if not qc:
        return []
    kept = {s: {"kept": q.get("cells_out", 0), **{k: q.get(k, 0) or 0 for k in _REMOVED}} for s, q in qc.items()}
    cats = {"kept": {"name": "kept", "color": "#2b8cbe"},
            **{k: {"name": f"removed: {v}"} for k, v in _REMOVED.items()}}
    out = [bargraph("crossomics_qc_cells", "Cells kept and removed",
                    "Cells of each sample that passed QC, and how many each filter removed.", kept,
                    categories=cats, ylab="cells", cpswitch=True, sort_samples=False)]
    per_cell = {s: inp.h5ad_obs(p) for s in qc if (p := inp.out_path(ctx.layout, "qc", f"{s}.qc.h5ad")).is_file()}
    for key, label in ((KEYS.n_counts, "Counts per cell"), (KEYS.n_features, "Features per cell"),
                       (KEYS.pct_mito, "Mitochondrial % per cell")):
        data = {s: inp.spread(obs[key].to_numpy()) for s, obs in per_cell.items() if key in obs}
        if data:
            out.append(box(f"crossomics_qc_{key}", label, f"{label} of the cells kept by QC (obs `{key}`).", data,
                           xlab=label.lower(), xlog=key == KEYS.n_counts))
    thresholds = {s: {"Modality": q.get("modality", ""), **{v: q.get(k) for k, v in _THRESHOLDS.items()}}
                  for s, q in qc.items()}
    out.append(table("crossomics_qc_thresholds", "Thresholds and medians",
                     "QC thresholds applied to each sample (empty: filter not used) and medians before and after.",
                     thresholds, first_column="Sample"))
    return out


def priors_section(ctx: Context) -> list[Content]:
    """Priors: genes matched by gene activity, gene sets used, anchors per modality pair and their precision."""
    out = []
    ga = {inp.stem(p, ".gene_activity.h5ad"): inp.h5ad_uns(p, KEYS.gene_activity)
          for p in inp.files(ctx.layout, "priors", "*.gene_activity.h5ad")}
    if ga:
        rows = {s: {"Genes": u.get("n_genes"), "Genes requested": u.get("n_genes_requested"),
                    "Genes with a peak": u.get("n_genes_with_peak"), "Peaks": u.get("n_peaks"),
                    "Peaks matched to a gene": u.get("n_peaks_matched"), "Weighting": u.get("weighting", "")}
                for s, u in ga.items()}
        out.append(table("crossomics_priors_gene_activity", "Gene activity",
                         "ATAC peaks summed over gene windows: genes matched and peaks used.", rows,
                         first_column="Sample"))
    gs = {inp.stem(p, ".genesets.h5ad"): inp.h5ad_uns(p, KEYS.gene_sets)
          for p in inp.files(ctx.layout, "priors", "*.genesets.h5ad")}
    if gs:
        sets = {s: {"used": u.get("n_sets_used", 0), "skipped: too few genes": u.get("n_sets_skipped_too_few_genes", 0),
                    "skipped: too many genes": u.get("n_sets_skipped_too_many_genes", 0)} for s, u in gs.items()}
        out.append(bargraph("crossomics_priors_gene_sets", "Gene sets", "Gene sets scored per sample, and those "
                            "skipped for having too few or too many of their genes in the data.", sets, ylab="gene sets"))
    out += _anchors(ctx)
    return out


def _anchors(ctx: Context) -> list[Content]:
    metrics = inp.read_json(inp.out_path(ctx.layout, "metrics", "anchors.json")) or {}
    for p in inp.files(ctx.layout, "priors", "anchors_*.tsv"):
        pair = inp.stem(p, ".tsv")[len("anchors_"):]
        if pair not in metrics:
            t = inp.read_table(p)
            metrics[pair] = {"n_anchors": len(t), "n_cells_a": t["cell_a"].nunique(), "n_cells_b": t["cell_b"].nunique()}
    if not metrics:
        return []
    label = {pair: pair.replace("__", " ↔ ") for pair in metrics}
    out = [bargraph("crossomics_priors_anchors", "Anchors per modality pair",
                    "Mutual-nearest-neighbour anchor pairs between the cells of two samples.",
                    {label[p]: {"anchors": m.get("n_anchors", 0)} for p, m in metrics.items()}, ylab="anchor pairs")]
    rows = {label[p]: {"Anchors": m.get("n_anchors"), "Cells with an anchor (A)": m.get("n_cells_a"),
                       "Cells with an anchor (B)": m.get("n_cells_b"), "Precision (same cell type)": m.get("precision"),
                       "Cell types covered": m.get("cell_types_covered")} for p, m in metrics.items()}
    heads = {"Precision (same cell type)": {"min": 0, "max": 1, "format": "{:.3f}", "scale": "RdYlGn"},
             "Cell types covered": {"min": 0, "max": 1, "format": "{:.2f}"}}
    out.append(table("crossomics_priors_anchor_table", "Anchor precision", "Precision: fraction of anchor pairs "
                     "joining cells of the same annotated type (empty when the samples carry no labels).", rows,
                     headers=heads, first_column="Pair"))
    return out


def training_section(ctx: Context) -> list[Content]:
    """Training curves: every loss term per epoch (train and validation), both stages, and the learning rate."""
    h = inp.history(ctx.layout)
    if h is None or h.empty:
        return []
    h = h.reset_index(drop=True)
    x = np.arange(1, len(h) + 1, dtype=float)
    stages = h["stage"].to_numpy() if "stage" in h else np.ones(len(h))
    starts = [float(x[i]) - 0.5 for i in range(1, len(h)) if stages[i] != stages[i - 1]]
    lines = [{"value": s, "color": "#999999", "dash": "dash", "label": f"stage {int(stages[int(s + 0.5) - 1])}"}
             for s in starts]
    domains = sorted({d for d in ctx.samples() if any(c.endswith(f"_{d}") for c in h.columns)}, key=len, reverse=True)
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
        pts = {float(xi): float(v) for xi, v in zip(x, values) if np.isfinite(v)}
        if pts:
            datasets.setdefault(term, {})[series] = pts
    if not datasets:
        return []
    terms = sorted(datasets, key=lambda t: (LOSS_TERMS.index(t) if t in LOSS_TERMS else len(LOSS_TERMS), t))
    labels = [{"name": t, "ylab": f"{t} loss"} for t in terms]
    if "lr" in h:
        datasets["learning rate"] = {"learning rate": dict(zip(x.tolist(), h["lr"].astype(float).tolist()))}
        terms.append("learning rate")
        labels.append({"name": "learning rate", "ylab": "learning rate"})
    desc = ("Loss terms per epoch over both training stages (stage 1: VAE pretraining; stage 2: alignment with "
            "the discriminator, cycle and anchor terms): `train` on training batches, `val` on held-out cells. "
            "The buttons switch between terms and the learning rate.")
    return [linegraph("crossomics_training_losses", "Loss terms per epoch", desc, [datasets[t] for t in terms], labels,
                      xlab="epoch (both stages)", ylab="loss", x_lines=lines, showlegend=True)]


Builder = Callable[[Context], list[Content]]


def registry() -> list[tuple[Section, Builder, str]]:
    """Every report section in order: (section, builder, what is missing when the builder returns nothing)."""
    from . import sections_downstream as down
    from . import sections_results as res

    return [
        (Section("crossomics_samples", "Samples", "The samples of this run and their cells through the stages."),
         samples_section, "no samplesheet, qc/*.qc.json or metrics/integration.json"),
        (Section("crossomics_qc", "Quality control", "Per-sample cell and feature filtering."),
         qc_section, "no qc/*.qc.json"),
        (Section("crossomics_priors", "Priors", "Gene activity, gene-set scores and cross-modality anchors."),
         priors_section, "no priors/ outputs or metrics/anchors.json"),
        (Section("crossomics_training", "Training", "How the model learned, epoch by epoch."),
         training_section, "no model/history.csv"),
        (Section("crossomics_integration", "Integration", "The joint space: where cells of every modality meet."),
         res.integration_section, "no integration/ latents or metrics/integration.json"),
        (Section("crossomics_generation", "Generation", "Cross-modal generation and how close it is to real data."),
         res.generation_section, "no generation/*.h5ad or metrics/generation.json"),
        (Section("crossomics_simulation", "Simulation", "Matched multi-omics cells sampled from the model."),
         down.simulation_section, "no simulation/*.h5ad"),
        (Section("crossomics_perturbation", "Perturbation", "In-silico perturbation: genes ranked by effect."),
         down.perturbation_section, "no perturbation/summary.tsv, perturbation/effects.tsv or metrics/perturbation.json"),
        (Section("crossomics_versions", "Software versions and parameters", "What ran, and with which settings."),
         res.versions_section, "nothing"),
    ]
