"""The report's sections in order (:func:`registry`), their shared :class:`Context`, and samples and QC.

Each ``*_section`` function reads one part of the layout and returns its subsections as :class:`Content`;
an empty list means the inputs are absent and the section is left out with a note. Priors and training:
:mod:`.sections_model`; integration, generation, versions: :mod:`.sections_results`; simulation and
perturbation: :mod:`.sections_downstream`, :mod:`.sections_perturbation`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .._keys import KEYS
from ..io.layout import Layout
from ..io.samplesheet import SampleRow
from . import _inputs as inp
from ._content import Content, Section, bargraph, box, table


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
    in_model = {
        inp.stem(p, ".latent.h5ad"): inp.h5ad_shape(p)[0]
        for p in inp.files(ctx.layout, "integration", "*.latent.h5ad")
    }
    if not in_model:
        try:
            integ = inp.read_json(inp.out_path(ctx.layout, "metrics", "integration.json")) or {}
        except ValueError:  # the integration section reports an unreadable file
            integ = {}
        in_model = integ.get("n_cells", {}) if isinstance(integ.get("n_cells"), dict) else {}
    rows: dict[str, dict] = {}
    for r in ctx.rows or []:
        rows[r.sample] = {
            "Modality": r.modality,
            "Batch": r.batch or "",
            "Condition": r.condition or "",
            "File": r.file.name,
        }
    for sample in sorted(set(qc) | set(in_model)):
        row = rows.setdefault(sample, {"Modality": (qc.get(sample) or {}).get("modality", "")})
        q = qc.get(sample) or {}
        row.update(
            {
                "Cells in": q.get("cells_in"),
                "Cells after QC": q.get("cells_out"),
                "Features after QC": q.get("features_out"),
                "Cells in joint space": in_model.get(sample),
            }
        )
    if not rows:
        return []
    source = "the samplesheet" if ctx.rows else "the QC and integration outputs (no samplesheet given)"
    heads = {
        c: {"format": "{:,.0f}"}
        for c in ("Cells in", "Cells after QC", "Features after QC", "Cells in joint space")
    }
    out = [
        table(
            "crossomics_samples_table",
            "Samplesheet summary",
            f"One row per sample, from {source}.",
            rows,
            headers=heads,
            first_column="Sample",
        )
    ]
    counts = _cell_types(ctx)
    if counts:
        cats = sorted({t for c in counts.values() for t in c})
        out.append(
            bargraph(
                "crossomics_samples_cell_types",
                "Cell types per sample",
                "Cells of each annotated type (obs `cell_type`) in each sample after QC.",
                counts,
                categories={c: {"name": c} for c in cats},
                ylab="cells",
                cpswitch=True,
                sort_samples=False,
            )
        )
    return out


def _cell_types(ctx: Context) -> dict[str, dict[str, int]]:
    """Cells per type and sample (QC outputs, else the joint space), in samplesheet order."""
    counts = {}
    for p in inp.files(ctx.layout, "qc", "*.qc.h5ad"):
        obs = inp.h5ad_obs(p)
        if KEYS.cell_type in obs:
            counts[inp.stem(p, ".qc.h5ad")] = obs[KEYS.cell_type].astype(str).value_counts().to_dict()
    if not counts:
        for sample, obs in inp.latents(ctx.layout).items():
            if KEYS.cell_type in obs:
                counts[sample] = obs[KEYS.cell_type].astype(str).value_counts().to_dict()
    order = {s: i for i, s in enumerate(ctx.samples())}
    return dict(sorted(counts.items(), key=lambda kv: order.get(kv[0], len(order))))


_REMOVED = {
    "removed_min_counts": "too few counts",
    "removed_min_features": "too few features",
    "removed_max_pct_mito": "too many mitochondrial reads",
    "removed_max_counts_quantile": "above count quantile",
}
_THRESHOLDS = {
    "threshold_min_counts": "Min counts",
    "threshold_min_features": "Min features",
    "threshold_max_pct_mito": "Max % mito",
    "threshold_max_counts_quantile": "Max counts quantile",
    "threshold_min_cells_per_feature": "Min cells per feature",
    "median_n_counts_before": "Median counts (before)",
    "median_n_counts_after": "Median counts (after)",
    "median_n_features_before": "Median features (before)",
    "median_n_features_after": "Median features (after)",
    "features_in": "Features in",
    "features_out": "Features kept",
}


def qc_section(ctx: Context) -> list[Content]:
    """Per-sample QC: cells kept and removed per filter, per-cell counts and features, thresholds."""
    qc = {inp.stem(p, ".qc.json"): inp.read_json(p) for p in inp.files(ctx.layout, "qc", "*.qc.json")}
    if not qc:
        return []
    kept = {
        s: {"kept": q.get("cells_out", 0), **{k: q.get(k, 0) or 0 for k in _REMOVED}} for s, q in qc.items()
    }
    cats = {
        "kept": {"name": "kept", "color": "#2b8cbe"},
        **{k: {"name": f"removed: {v}"} for k, v in _REMOVED.items()},
    }
    out = [
        bargraph(
            "crossomics_qc_cells",
            "Cells kept and removed",
            "Cells of each sample that passed QC, and how many each filter removed.",
            kept,
            categories=cats,
            ylab="cells",
            cpswitch=True,
            sort_samples=False,
        )
    ]
    per_cell = {
        s: inp.h5ad_obs(p) for s in qc if (p := inp.out_path(ctx.layout, "qc", f"{s}.qc.h5ad")).is_file()
    }
    for key, label in (
        (KEYS.n_counts, "Counts per cell"),
        (KEYS.n_features, "Features per cell"),
        (KEYS.pct_mito, "Mitochondrial % per cell"),
    ):
        data = {s: inp.spread(obs[key].to_numpy()) for s, obs in per_cell.items() if key in obs}
        if data:
            out.append(
                box(
                    f"crossomics_qc_{key}",
                    label,
                    f"{label} of the cells kept by QC (obs `{key}`).",
                    data,
                    xlab=label.lower(),
                    xlog=key == KEYS.n_counts,
                )
            )
    thresholds = {
        s: {"Modality": q.get("modality", ""), **{v: q.get(k) for k, v in _THRESHOLDS.items()}}
        for s, q in qc.items()
    }
    out.append(
        table(
            "crossomics_qc_thresholds",
            "Thresholds and medians",
            "QC thresholds applied to each sample (empty: filter not used) and medians before and after.",
            thresholds,
            first_column="Sample",
        )
    )
    return out


Builder = Callable[[Context], list[Content]]


def registry() -> list[tuple[Section, Builder, str]]:
    """Every report section in order: (section, builder, what is missing when the builder returns nothing)."""
    from . import sections_downstream as down
    from . import sections_model as model
    from . import sections_perturbation as pert
    from . import sections_results as res

    return [
        (
            Section(
                "crossomics_samples", "Samples", "The samples of this run and their cells through the stages."
            ),
            samples_section,
            "no samplesheet, qc/*.qc.json or metrics/integration.json",
        ),
        (
            Section("crossomics_qc", "Quality control", "Per-sample cell and feature filtering."),
            qc_section,
            "no qc/*.qc.json",
        ),
        (
            Section(
                "crossomics_priors", "Priors", "Gene activity, gene-set scores and cross-modality anchors."
            ),
            model.priors_section,
            "no priors/ outputs or metrics/anchors.json",
        ),
        (
            Section("crossomics_training", "Training", "How the model learned, epoch by epoch."),
            model.training_section,
            "no model/history.csv",
        ),
        (
            Section(
                "crossomics_integration",
                "Integration",
                "The joint space: where cells of every modality meet.",
            ),
            res.integration_section,
            "no integration/ latents or metrics/integration.json",
        ),
        (
            Section(
                "crossomics_generation",
                "Generation",
                "Cross-modal generation and how close it is to real data.",
            ),
            res.generation_section,
            "no generation/*.h5ad or metrics/generation.json",
        ),
        (
            Section(
                "crossomics_simulation", "Simulation", "Matched multi-omics cells sampled from the model."
            ),
            down.simulation_section,
            "no simulation/*.h5ad",
        ),
        (
            Section(
                "crossomics_perturbation", "Perturbation", "In-silico perturbation: genes ranked by effect."
            ),
            pert.perturbation_section,
            "no perturbation/summary.tsv, perturbation/effects.tsv or metrics/perturbation.json",
        ),
        (
            Section(
                "crossomics_versions",
                "Software versions and parameters",
                "What ran, and with which settings.",
            ),
            res.versions_section,
            "nothing",
        ),
    ]
