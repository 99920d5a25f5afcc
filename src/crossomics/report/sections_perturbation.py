"""The perturbation section: perturbed genes ranked by effect, condition shift, top shifted features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import _inputs as inp
from ._content import Content, bargraph, table
from .sections import Context
from .sections_results import metrics_table

#: rows of the perturbation rankings shown
TOP_GENES = 25
TOP_FEATURES = 10
TOP_PATHWAYS = 10
#: longest text shown in a table cell (lists of features are cut; the files hold them whole)
MAX_CHARS = 60
_GENE_COLUMNS = ("gene", "perturbed_gene", "perturbation", "genes")
_SCORE_COLUMNS = ("latent_shift", "score", "effect", "overall_effect", "effect_size", "delta")


def perturbation_section(ctx: Context) -> list[Content]:
    """Perturbation: genes ranked by effect and by shift toward the reference condition, top features."""
    folder = inp.out_path(ctx.layout, "perturbation")
    out = _ranking(folder) + _condition_shift(folder) + _features(folder)
    metrics = inp.read_json(inp.out_path(ctx.layout, "metrics", "perturbation.json"))
    if metrics:
        desc = "Figures written by the perturbation stage (timings; ground-truth checks on the demo)."
        out.append(metrics_table("crossomics_perturbation_metrics", "Perturbation checks", desc, metrics))
    return out


def _ranking(folder: Path) -> list[Content]:
    summary = _first_table(folder, "summary")
    if summary is None or not len(summary):
        return []
    gene, score = _column(summary, _GENE_COLUMNS, str), _column(summary, _SCORE_COLUMNS, float)
    top = summary.iloc[np.argsort(-np.abs(summary[score].to_numpy(float)), kind="stable")[:TOP_GENES]]
    bars = {str(g): {score: float(v)} for g, v in zip(top[gene], top[score], strict=True)}
    desc = f"The {len(top)} perturbed genes (of {len(summary):,}) with the largest `{score}` in the summary."
    rows, same = table_rows(top, gene)
    note = f" The same in every row: {same}." if same else ""
    return [
        bargraph(
            "crossomics_perturbation_ranking",
            "Perturbed genes ranked by effect",
            desc,
            bars,
            ylab=score,
            sort_samples=False,
        ),
        table(
            "crossomics_perturbation_summary",
            "Top perturbed genes",
            f"The same genes with the columns of perturbation/summary (long lists shortened).{note}",
            rows,
            first_column="Gene",
        ),
    ]


def table_rows(df: pd.DataFrame, key: str, *, max_chars: int = MAX_CHARS) -> tuple[dict[str, dict], str]:
    """Rows of ``df`` keyed by column ``key``, for a table people can read.

    Columns with one value in every row are left out and returned as text (``"mode oe, n_cells 298"``);
    comma-separated lists get a space after each comma and are cut to ``max_chars`` characters.
    """
    same = [c for c in df.columns if c != key and len(df) > 1 and df[c].nunique(dropna=False) == 1]
    keep = [c for c in df.columns if c != key and c not in same]

    def cell(v):
        if not isinstance(v, str):
            return v
        v = v.replace(",", ", ").replace(",  ", ", ")
        if len(v) <= max_chars:
            return v
        cut = v[: max_chars - 3]
        return (cut[: cut.rfind(", ")] if ", " in cut else cut) + ", …"

    rows = {str(r[key]): {c: cell(r[c]) for c in keep} for _, r in df.iterrows()}
    return rows, ", ".join(f"{c} {df[c].iloc[0]}" for c in same)


def _condition_shift(folder: Path) -> list[Content]:
    shift = _first_table(folder, "condition_shift")
    if shift is None or not len(shift) or "shift_toward_reference" not in shift:
        return []
    gene = _column(shift, _GENE_COLUMNS, str)
    top = shift.sort_values("shift_toward_reference", ascending=False, kind="stable").head(TOP_GENES)
    bars = {
        str(g): {"shift toward reference": float(v)}
        for g, v in zip(top[gene], top["shift_toward_reference"], strict=True)
    }
    out = [
        bargraph(
            "crossomics_perturbation_condition",
            "Genes that move cells toward the reference condition",
            "Decrease of the mean distance from the source-condition cells to the reference cells' centroid "
            "in the joint space when the gene is perturbed (perturbation/condition_shift).",
            bars,
            ylab="shift toward reference",
            sort_samples=False,
        )
    ]
    pathways = _first_table(folder, "pathways")
    if pathways is not None and len(pathways) and {"gene_set", "pvalue"} <= set(pathways.columns):
        top = pathways.sort_values("pvalue", kind="stable").head(TOP_PATHWAYS)
        rows, _ = table_rows(top, "gene_set")
        out.append(
            table(
                "crossomics_perturbation_pathways",
                "Pathways among the top genes",
                "Gene sets over-represented among the genes that move cells most toward the reference "
                "(hypergeometric test; fdr: Benjamini-Hochberg).",
                rows,
                first_column="Gene set",
            )
        )
    return out


def _features(folder: Path) -> list[Content]:
    effects = _top_effects(folder)
    if effects is None or not len(effects):
        return []
    rows = {
        f"{r['_gene']} → {r['_feature']} ({r['_target']})": {
            "Perturbed gene": r["_gene"],
            "Target modality": r["_target"],
            "Feature": r["_feature"],
            **{c: r[c] for c in effects.columns if not c.startswith("_")},
        }
        for _, r in effects.iterrows()
    }
    desc = (
        f"The {TOP_FEATURES} features of each target modality that moved most (by |score|) under any "
        "perturbation (perturbation/effects)."
    )
    return [
        table(
            "crossomics_perturbation_features",
            "Top shifted features per modality",
            desc,
            rows,
            first_column="Effect",
        )
    ]


def _first_table(folder: Path, name: str) -> pd.DataFrame | None:
    for ext in (".tsv", ".parquet"):
        if (df := inp.read_table(folder / f"{name}{ext}")) is not None:
            return df
    return None


def _column(df: pd.DataFrame, names: tuple[str, ...], kind: type) -> str:
    """The first of ``names`` in ``df``, else its first column of ``kind`` (numeric for float)."""
    lower = {c.lower(): c for c in df.columns}
    for n in names:
        if n in lower:
            return lower[n]
    for c in df.columns:
        numeric = pd.api.types.is_numeric_dtype(df[c])
        if (kind is float) == numeric and "rank" not in c.lower():
            return c
    msg = f"no {'numeric' if kind is float else 'text'} column among {list(df.columns)}"
    raise ValueError(msg)


def _top_effects(folder: Path) -> pd.DataFrame | None:
    """Top features per target modality of the long effects table, read in chunks (screens are large)."""
    path = next((p for p in (folder / "effects.tsv", folder / "effects.parquet") if p.is_file()), None)
    if path is None:
        return None
    chunks = (
        [pd.read_parquet(path)]
        if path.suffix == ".parquet"
        else pd.read_csv(path, sep="\t", chunksize=500_000)
    )
    best: pd.DataFrame | None = None
    for chunk in chunks:
        gene = _column(chunk, _GENE_COLUMNS, str)
        target = _column(chunk, ("target_modality", "modality", "target"), str)
        feature = _column(chunk, ("feature", "target_feature"), str)
        score = _column(chunk, ("score", "lfc", "delta"), float)
        chunk = chunk.assign(
            _gene=chunk[gene].astype(str),
            _target=chunk[target].astype(str),
            _feature=chunk[feature].astype(str),
            _abs=chunk[score].abs(),
        )
        chunk = chunk.drop(columns=[gene, target, feature])
        best = chunk if best is None else pd.concat([best, chunk], ignore_index=True)
        best = (
            best.sort_values("_abs", ascending=False, kind="stable")
            .groupby("_target", sort=True)
            .head(TOP_FEATURES)
        )
    return (
        None
        if best is None
        else best.sort_values(["_target", "_abs"], ascending=[True, False]).drop(columns="_abs")
    )
