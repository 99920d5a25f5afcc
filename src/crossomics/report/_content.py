"""MultiQC custom-content files: one JSON file per report subsection, grouped under a parent section.

MultiQC reads ``*_mqc.json`` files that carry their own settings (``id``, ``parent_id``,
``section_name``, ``plot_type``, ``pconfig``, ``data``); every file with the same ``parent_id`` becomes a
subsection of one report section. Only native plot types are used (table, bargraph, linegraph, box,
scatter, heatmap); images are embedded as ``plot_type: image`` blocks of base64 PNGs.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io.write import write_json

MQC_SUFFIX = "_mqc.json"


@dataclass(frozen=True)
class Section:
    """A top-level report section (a MultiQC module made of custom-content subsections)."""

    id: str
    title: str
    description: str


@dataclass
class Content:
    """One subsection: a plot, a table or an image block inside a :class:`Section`.

    ``id`` is the subsection anchor in the report; ``data`` follows MultiQC's custom-content shape for
    ``plot_type``; ``extra`` holds further top-level keys (``headers``, ``categories``, ``xcats``, ...).
    """

    id: str
    name: str
    description: str
    plot_type: str
    data: Any
    pconfig: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def write_content(folder: Path, section: Section, content: Content) -> Path:
    """Write ``content`` as ``<folder>/<content.id>_mqc.json`` under ``section``; returns the path."""
    pconfig = {"id": f"{content.id}_plot", "title": content.name, **content.pconfig}
    doc = {
        "id": content.id,
        "parent_id": section.id,
        "parent_name": section.title,
        "parent_description": section.description,
        "section_name": content.name,
        "description": content.description,
        "plot_type": content.plot_type,
        "pconfig": pconfig,
        **content.extra,
        "data": clean(content.data),
    }
    return write_json(doc, folder / f"{content.id}{MQC_SUFFIX}")


def clean(obj: Any) -> Any:
    """JSON-safe copy of ``obj``: numpy scalars to Python, NaN/inf to None (MultiQC shows an empty cell)."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [clean(v) for v in obj.tolist()]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(float(obj)) else None
    return obj


def table(
    id: str,
    name: str,
    description: str,
    rows: dict[str, dict[str, Any]],
    *,
    headers: dict[str, dict[str, Any]] | None = None,
    first_column: str = "Name",
) -> Content:
    """A MultiQC table, one row per key of ``rows``; ``headers`` maps columns to MultiQC header settings."""
    columns = list(dict.fromkeys(k for row in rows.values() for k in row))
    heads = {c: {"title": c, **(headers or {}).get(c, {})} for c in columns}
    for c in columns:
        values = [row.get(c) for row in rows.values() if row.get(c) is not None]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            heads[c].setdefault("scale", False)
        elif all(float(v).is_integer() for v in values):
            heads[c].setdefault("format", "{:,.0f}")
        else:
            heads[c].setdefault("format", "{:.4g}")
    pconfig = {"col1_header": first_column, "sort_rows": False, "no_violin": True}
    return Content(id, name, description, "table", rows, pconfig, {"headers": heads})


def bargraph(
    id: str,
    name: str,
    description: str,
    data: dict[str, dict[str, float]],
    *,
    categories: dict[str, dict[str, Any]] | None = None,
    **pconfig: Any,
) -> Content:
    """A (stacked) bar graph of ``data[bar][category] = value``; ``categories`` sets names and colours."""
    extra = {"categories": categories} if categories else {}
    return Content(id, name, description, "bargraph", data, {"cpswitch": False, **pconfig}, extra)


def linegraph(
    id: str,
    name: str,
    description: str,
    datasets: list[dict[str, dict[float, float]]],
    labels: list[dict[str, Any]] | None = None,
    **pconfig: Any,
) -> Content:
    """Line graphs of ``datasets[i][series] = {x: y}``; several datasets get buttons named by ``labels``."""
    data = [{s: [[x, y] for x, y in pts.items()] for s, pts in ds.items()} for ds in datasets]
    if labels:
        pconfig["data_labels"] = labels
    return Content(id, name, description, "linegraph", data if len(data) > 1 else data[0], pconfig)


def box(id: str, name: str, description: str, data: dict[str, list[float]], **pconfig: Any) -> Content:
    """Box plots: one box per key of ``data`` (e.g. per-cell values of one sample)."""
    return Content(id, name, description, "box", data, pconfig)


def scatter(
    id: str,
    name: str,
    description: str,
    datasets: list[dict[str, list[dict[str, Any]]]],
    labels: list[dict[str, Any]] | None = None,
    **pconfig: Any,
) -> Content:
    """Scatter plots: ``datasets[i][series] = [{"x", "y", "name", "color"}, ...]``."""
    if labels:
        pconfig["data_labels"] = labels
    return Content(id, name, description, "scatter", datasets if len(datasets) > 1 else datasets[0], pconfig)


def heatmap(
    id: str,
    name: str,
    description: str,
    matrix: list[list[float | None]],
    xcats: list[str],
    ycats: list[str],
    **pconfig: Any,
) -> Content:
    """A heatmap of ``matrix`` (rows ``ycats``, columns ``xcats``)."""
    return Content(id, name, description, "heatmap", matrix, pconfig, {"xcats": xcats, "ycats": ycats})


def images(id: str, name: str, description: str, pngs: list[tuple[Path, str]]) -> Content:
    """Static PNGs side by side (``(path, caption)`` pairs), embedded in the report as base64."""
    cells = []
    for path, caption in pngs:
        b64 = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        cells.append(
            '<figure class="crossomics-figure" style="display:inline-block;margin:0 1em 1em 0;max-width:48%">'
            f'<img src="data:image/png;base64,{b64}" alt="{caption}" style="max-width:100%"/>'
            f"<figcaption>{caption}</figcaption></figure>"
        )
    html = f'<div class="mqc-custom-content-image">{"".join(cells)}</div>'
    return Content(id, name, description, "image", html)
