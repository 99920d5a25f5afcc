"""Writing a perturbation screen, whole or in chunks, and merging chunks into the same final tables.

A single run and a merged chunked run go through the same :func:`finalize`, and chunk tables are read back
at full float precision, so both give byte-identical files:

- ``effects.tsv`` (gene, target_modality, feature, delta, lfc, score, naive), genes in screen order;
- ``summary.tsv`` ranked by latent shift (``rank`` 1 = largest overall effect);
- ``cell_types.tsv``; with conditions ``condition_shift.tsv`` (ranked by shift toward the reference),
  ``condition_features.tsv`` and, given gene sets, ``pathways.tsv``;
- ``perturb.json``: settings and sizes.

Chunk ``K`` of ``N`` writes ``<table>.chunk<K>of<N>.tsv`` and ``meta.chunk<K>of<N>.json``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError
from ..io.write import write_json, write_tsv
from .perturb_condition import pathway_enrichment

TABLES = ("effects", "summary", "cell_types", "condition_shift", "condition_features")
CHUNK_META = re.compile(r"^meta\.chunk(\d+)of(\d+)\.json$")
RUN_FILE = "perturb.json"


def chunk_file(table: str, chunk: int, n_chunks: int) -> str:
    return f"{table}.chunk{chunk}of{n_chunks}.tsv"


def finalize(
    tables: Mapping[str, pd.DataFrame],
    *,
    gene_sets: Mapping[str, Sequence[str]] | None = None,
    top_genes: int | None = None,
) -> dict[str, pd.DataFrame]:
    """Rank the summary and the condition shift; add pathway enrichment when gene sets are given."""
    out = {k: v for k, v in tables.items() if k in TABLES}
    summary = out.get("summary", pd.DataFrame())
    if len(summary):
        summary = summary.sort_values("latent_shift", ascending=False, kind="stable").reset_index(drop=True)
        summary.insert(0, "rank", range(1, len(summary) + 1))
        out["summary"] = summary
    shift = out.get("condition_shift")
    if shift is not None and len(shift):
        shift = shift.sort_values("shift_toward_reference", ascending=False, kind="stable").reset_index(
            drop=True
        )
        shift.insert(0, "rank", range(1, len(shift) + 1))
        out["condition_shift"] = shift
        if gene_sets:
            out["pathways"] = pathway_enrichment(
                shift["gene"].astype(str).tolist(), gene_sets, top_genes=top_genes
            )
    return out


def write_tables(tables: Mapping[str, pd.DataFrame], out: Path, settings: Mapping[str, Any]) -> list[Path]:
    """Write final tables and ``perturb.json`` into ``out``."""
    written = [write_tsv(df, out / f"{name}.tsv") for name, df in tables.items()]
    written.append(write_json(dict(settings), out / RUN_FILE))
    return written


def write_chunk(tables: Mapping[str, pd.DataFrame], out: Path, settings: Mapping[str, Any]) -> list[Path]:
    """Write the tables of one chunk and its ``meta.chunk<K>of<N>.json`` (written last)."""
    k, n = int(settings["chunk"]), int(settings["n_chunks"])
    written = [write_tsv(df, out / chunk_file(name, k, n)) for name, df in tables.items() if name in TABLES]
    written.append(write_json(dict(settings), out / f"meta.chunk{k}of{n}.json"))
    return written


def _read(path: Path) -> pd.DataFrame:
    """A table written by :func:`write_chunk`, floats read back exactly (an empty chunk reads as empty)."""
    text_cols = {"gene": str, "feature": str, "target_modality": str, "cell_type": str, "gene_set": str}
    try:
        return pd.read_csv(
            path,
            sep="\t",
            float_precision="round_trip",
            dtype=text_cols,
            keep_default_na=False,
            na_values=[""],
        )
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def find_chunks(inputs: Sequence[str | Path]) -> dict[int, tuple[Path, dict[str, Any]]]:
    """Chunk number -> (folder, settings) over the input folders; every chunk 1..N exactly once."""
    found: dict[int, tuple[Path, dict[str, Any]]] = {}
    totals = set()
    for folder in map(Path, inputs):
        if not folder.is_dir():
            msg = (
                f"--inputs: {folder} is not a folder; "
                "pass the --out folders of the `crossomics perturb --chunk` runs."
            )
            raise InputError(msg)
        metas = [m for m in sorted(folder.iterdir()) if CHUNK_META.match(m.name)]
        if not metas and (folder / RUN_FILE).is_file():  # a whole screen (--n-chunks 1) is chunk 1 of 1
            metas = [folder / RUN_FILE]
        for meta in metas:
            m = CHUNK_META.match(meta.name)
            k, n = (int(m.group(1)), int(m.group(2))) if m else (1, 1)
            if k in found:
                msg = f"chunk {k} of {n} appears twice ({found[k][0]} and {folder}); pass each folder once."
                raise InputError(msg)
            try:
                settings = json.loads(meta.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                msg = (
                    f"{meta}: not valid JSON ({err}); the chunk's run was cut short or the file was edited. "
                    f"Fix: rerun chunk {k} of {n}."
                )
                raise InputError(msg) from None
            found[k] = (folder, settings)
            totals.add(n)
    if not found:
        msg = (
            f"--inputs: no meta.chunk<K>of<N>.json in {', '.join(map(str, inputs))}; "
            "run `crossomics perturb --chunk K --n-chunks N` first."
        )
        raise InputError(msg)
    if len(totals) > 1:
        msg = (
            f"--inputs mix screens cut into different chunk numbers ({sorted(totals)}); merge one at a time."
        )
        raise InputError(msg)
    n = totals.pop()
    missing = sorted(set(range(1, n + 1)) - set(found))
    if missing:
        msg = f"chunks {', '.join(map(str, missing))} of {n} are missing from --inputs; run them, then merge."
        raise InputError(msg)
    first = {k: v for k, v in found[1][1].items() if k not in ("chunk", "seconds")}
    for k, (folder, settings) in found.items():
        other = {key: v for key, v in settings.items() if key not in ("chunk", "seconds")}
        if other != first:
            diff = sorted(key for key in set(first) | set(other) if first.get(key) != other.get(key))
            msg = f"chunk {k} in {folder} was run with other settings than chunk 1 ({', '.join(diff)}); "
            msg += "rerun it with the settings of the other chunks."
            raise InputError(msg)
    return dict(sorted(found.items()))


def merge_chunks(
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    gene_sets: Mapping[str, Sequence[str]] | None = None,
    top_genes: int | None = None,
) -> dict[str, Any]:
    """Join chunk outputs into the final tables in ``out`` (what a single run would have written)."""
    chunks = find_chunks(inputs)
    n = len(chunks)
    tables: dict[str, pd.DataFrame] = {}
    for name in TABLES:
        paths = [folder / chunk_file(name, k, n) for k, (folder, _) in chunks.items()]
        if n == 1 and not paths[0].is_file():
            paths = [paths[0].with_name(f"{name}.tsv")]
        parts = [_read(p).drop(columns="rank", errors="ignore") for p in paths if p.is_file()]
        parts = [p for p in parts if len(p.columns)]
        if parts:
            tables[name] = pd.concat(parts, ignore_index=True)
    settings = {k: v for k, v in chunks[1][1].items() if k not in ("chunk", "n_chunks", "seconds")}
    settings["merged_chunks"] = n
    settings["seconds"] = sum(float(s.get("seconds", 0.0)) for _, s in chunks.values())
    top_genes = top_genes if top_genes is not None else settings.get("top_genes")
    final = finalize(tables, gene_sets=gene_sets, top_genes=top_genes)
    write_tables(final, Path(out), settings)
    return settings
