"""Report sections over the model's results: integration, generation, software versions and parameters."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .._keys import KEYS
from . import _inputs as inp
from ._content import Content, bargraph, heatmap, images, table
from .figures import embedding_png
from .sections import Context

#: integration metrics shown in the table: key prefix -> (label, better, what it measures)
INTEGRATION_METRICS = {
    "foscttm": (
        "FOSCTTM",
        "lower",
        "fraction of cells closer than the true match (paired cells; 0.5 is chance)",
    ),
    "ari_leiden": (
        "ARI (Leiden)",
        "higher",
        "agreement of Leiden clusters of the joint space with cell types",
    ),
    "nmi_leiden": ("NMI (Leiden)", "higher", "mutual information of Leiden clusters with cell types"),
    "asw_celltype": ("ASW (cell type)", "higher", "silhouette width of cell types (rescaled to 0..1)"),
    "modality_mixing": ("Modality mixing", "higher", "how well modalities mix among neighbours (1 is ideal)"),
    "leiden_resolution": ("Leiden resolution", "", "resolution picked for ARI and NMI"),
    "leiden_cells": ("Cells clustered (Leiden)", "", "all cells, or a random 50,000 above that"),
}


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts to ``{"a.b": scalar}``; short lists of scalars joined, other lists skipped."""
    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, (list, tuple)):
        if len(obj) <= 20 and all(not isinstance(v, (dict, list, tuple)) for v in obj):
            out[prefix] = "; ".join(str(v) for v in obj)
    else:
        out[prefix] = obj
    return out


def metrics_table(id: str, name: str, description: str, metrics: dict[str, Any]) -> Content:
    """A metrics JSON as a table: a row per top-level group (nested keys as columns); scalars: ``overall``."""
    rows: dict[str, dict[str, Any]] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            rows[str(key)] = flatten(value)
        else:
            rows.setdefault("overall", {}).update(flatten(value, str(key)))
    return table(id, name, description, {k: v for k, v in rows.items() if v}, first_column="Group")


def _pair(key: str, prefix: str, samples: list[str]) -> tuple[str, str] | None:
    rest = key[len(prefix) + 2 :]
    for a in samples:
        if rest.startswith(f"{a}__") and rest[len(a) + 2 :] in samples:
            return a, rest[len(a) + 2 :]
    parts = rest.split("__")
    return (parts[0], parts[1]) if len(parts) == 2 else None


def integration_section(ctx: Context) -> list[Content]:
    """Integration: UMAPs of the joint space (by modality, by cell type), metrics table, label transfer."""
    out = []
    cells = inp.latents(ctx.layout)
    if cells:
        df = pd.concat(cells.values(), ignore_index=True)
        pngs = []
        for key, what in ((KEYS.modality, "modality"), (KEYS.cell_type, "cell type")):
            if key in df and df[key].notna().any():
                path = embedding_png(
                    df,
                    key,
                    ctx.figures / f"joint_space_by_{key}.png",
                    title=f"Joint space by {what}",
                    seed=ctx.seed,
                )
                pngs.append((path, f"{len(df):,} cells coloured by {what}"))
        if pngs:
            out.append(
                images(
                    "crossomics_integration_umap",
                    "Joint space",
                    "Cells of every sample in the joint space (obsm `X_umap`): modalities should overlap "
                    "and cell types should separate.",
                    pngs,
                )
            )
    metrics = inp.read_json(inp.out_path(ctx.layout, "metrics", "integration.json")) or {}
    samples = ctx.samples() + sorted(cells)
    rows = {}
    for key, value in metrics.items():
        if not isinstance(value, (int, float)) or key.startswith("label_transfer"):
            continue
        prefix = next((p for p in INTEGRATION_METRICS if key == p or key.startswith(f"{p}__")), None)
        label, better, what = INTEGRATION_METRICS.get(prefix, (key, "", ""))
        pair = _pair(key, prefix, samples) if prefix and key != prefix else None
        rows[f"{label} {pair[0]} ↔ {pair[1]}" if pair else label] = {
            "Value": value,
            "Better": better,
            "Measures": what,
        }
    if rows:
        out.append(
            table(
                "crossomics_integration_metrics",
                "Integration metrics",
                "Scores of the joint space against the cell-type labels and the true pairs.",
                rows,
                headers={"Value": {"format": "{:.3f}", "scale": False}},
                first_column="Metric",
            )
        )
    transfer = {
        _pair(k, "label_transfer", samples): v for k, v in metrics.items() if k.startswith("label_transfer__")
    }
    transfer = {k: v for k, v in transfer.items() if k is not None}
    if transfer:
        names = list(dict.fromkeys(s for pair in transfer for s in pair))
        matrix = [[transfer.get((a, b)) for b in names] for a in names]
        out.append(
            heatmap(
                "crossomics_integration_label_transfer",
                "Label transfer",
                "Accuracy of cell types predicted for the cells of one sample (column) from their "
                "nearest neighbours in another sample (row) in the joint space.",
                matrix,
                names,
                names,
                xlab="query sample (labels predicted)",
                ylab="reference sample",
                min=0,
                max=1,
                square=False,
            )
        )
    return out


def generation_section(ctx: Context) -> list[Content]:
    """Generation fidelity: metrics of ``metrics/generation.json`` and the files in ``generation/``."""
    out = []
    metrics = inp.read_json(inp.out_path(ctx.layout, "metrics", "generation.json")) or {}
    metrics = {k: v for k, v in metrics.items() if not str(k).startswith("simulation_")}
    if metrics:
        desc = (
            "Generated against the real cells: gene and cell correlations (counts), AUROC (peaks), overlap "
            "of the top markers per cell type, and classifier AUC where measured (0.5: indistinguishable)."
        )
        shown = {
            k: {m: x for m, x in v.items() if m != "marker_overlap_per_type"} if isinstance(v, dict) else v
            for k, v in metrics.items()
        }  # per-type overlaps: the bar graph below
        out.append(metrics_table("crossomics_generation_metrics", "Generation fidelity", desc, shown))
    markers = {
        k: v["marker_overlap_per_type"]
        for k, v in metrics.items()
        if isinstance(v, dict) and isinstance(v.get("marker_overlap_per_type"), dict)
    }
    if markers:
        types = sorted({t for v in markers.values() for t in v})
        desc = (
            "Fraction of each cell type's top markers in the real data that are also top markers in the "
            "generated data (`marker_overlap_random`: what chance gives)."
        )
        out.append(
            bargraph(
                "crossomics_generation_markers",
                "Marker overlap per cell type",
                desc,
                markers,
                categories={t: {"name": t} for t in types},
                stacking="group",
                ylab="overlap",
                ymin=0,
                ymax=1,
            )
        )
    rows = {}
    for p in inp.files(ctx.layout, "generation", "*.h5ad"):
        n_cells, n_features = inp.h5ad_shape(p)
        rows[p.stem] = {"Cells": n_cells, "Features": n_features, **_settings(p)}
    if rows:
        desc = "Files in generation/: cells encoded from one modality and decoded as another."
        out.append(table("crossomics_generation_outputs", "Generated data", desc, rows, first_column="File"))
    return out


_GENERATE_FIELDS = {
    "source": "Source",
    "target": "Target",
    "source_modality": "Source modality",
    "target_modality": "Target modality",
    "likelihood": "Likelihood",
    "n_missing": "Missing features",
}


def _settings(path) -> dict[str, Any]:
    uns = inp.h5ad_uns(path, KEYS.generate)
    return {
        label: uns[k] if isinstance(uns[k], (int, float)) else str(uns[k])
        for k, label in _GENERATE_FIELDS.items()
        if k in uns
    }


def versions_section(ctx: Context) -> list[Content]:
    """Software versions (pipeline_info/software_versions.yml, else this environment) and parameters."""
    versions = inp.read_yaml(inp.out_path(ctx.layout, "pipeline_info", "software_versions.yml"))
    rows: dict[str, dict[str, Any]] = {}
    if isinstance(versions, dict) and versions:
        source = "pipeline_info/software_versions.yml"
        for process, tools in versions.items():
            for tool, version in tools.items() if isinstance(tools, dict) else [(process, tools)]:
                row = rows.setdefault(str(tool), {"Version": [], "Used by": []})
                row["Version"].append(str(version))
                row["Used by"].append(str(process).split(":")[-1])
    else:
        source = "the environment that built this report (no pipeline_info/software_versions.yml)"
        rows = {tool: {"Version": [v], "Used by": ["report"]} for tool, v in _environment().items()}
    rows = {t: {k: "; ".join(dict.fromkeys(v)) for k, v in r.items()} for t, r in rows.items()}
    out = [
        table(
            "crossomics_versions_software", "Software versions", f"From {source}.", rows, first_column="Tool"
        )
    ]
    params = {}
    for name, doc in (
        ("pipeline", inp.read_json(inp.out_path(ctx.layout, "pipeline_info", "params.json"))),
        ("model", _model_settings(ctx)),
    ):
        for key, value in flatten(doc or {}).items():
            params[f"{name}.{key}"] = {
                "Value": value if isinstance(value, (int, float, bool)) else str(value)
            }
    if params:
        out.append(
            table(
                "crossomics_versions_params",
                "Parameters",
                "Run parameters (pipeline_info/params.json) "
                "and the trained model's settings (model/model.json).",
                params,
                headers={"Value": {"scale": False, "format": "{:.6g}"}},
                first_column="Parameter",
            )
        )
    return out


def _model_settings(ctx: Context) -> dict[str, Any]:
    model = inp.read_json(inp.out_path(ctx.layout, "model", "model.json")) or {}
    keep = ("crossomics_version", "arch", "train_config", "loss_weights", "smooth_neighbors")
    return {k: model[k] for k in keep if k in model}


def _environment() -> dict[str, str]:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("crossomics", "torch", "anndata", "mudata", "scanpy", "numpy", "scipy", "multiqc"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out
