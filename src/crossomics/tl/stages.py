"""Generation and simulation as steps: read inputs, compute, write under ``DIR/`` (same for CLI and runner).

``run_generate`` / ``run_simulate`` serve ``crossomics generate`` / ``crossomics simulate``;
``run_generation_stage`` / ``run_simulation_stage`` serve ``crossomics run`` and score fidelity into
``DIR/metrics/generation.json``.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from .._clock import PartClock
from .._keys import KEYS
from ..errors import InputError
from ..io.layout import Layout
from ..io.read import read_cell_subset, read_matrix, read_preprocessed
from ..io.samplesheet import SampleRow
from ..io.write import write_h5ad, write_json
from ..metrics.generation import fidelity_cells, generation_fidelity, simulation_realism
from ..model.inputs import select_counts
from .generate import BATCH_SIZE, load_model, read_rows, write_generated
from .latent_prior import load_latent_prior
from .simulate import simulate

log = logging.getLogger("crossomics")

MIN_PAIRED_CELLS = 10  # shared barcodes needed to treat two samples as paired


def run_generate(
    model_dir: str | Path,
    input_path: str | Path,
    out: str | Path,
    *,
    source: str,
    target: str,
    device: str = "auto",
    batch_size: int = BATCH_SIZE,
) -> ad.AnnData:
    """``crossomics generate``: read cells, generate the target modality, write ``out`` (h5ad) one batch of
    cells at a time; returns what was written without ``X`` (see :func:`~crossomics.tl.generate.write_generated`)."""
    model = load_model(model_dir, device=device)
    modality = model.domains[model.resolve_domain(source)].modality
    adata = read_matrix(input_path, modality=modality)
    return write_generated(
        model,
        adata,
        out,
        source=source,
        target=target,
        batch_size=batch_size,
        model_path=str(model_dir),
        input_name=str(input_path),
    )


def read_proportions(path: str | Path) -> dict[str, float]:
    """``cell_type`` and ``proportion`` (or ``fraction``, ``count``, ``n_cells``) of a CSV/TSV file."""
    path = Path(path)
    try:
        table = pd.read_csv(path, sep=None, engine="python", dtype={"cell_type": str})
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        msg = f"{path}: cannot be read as a CSV table ({err}). Give columns cell_type,proportion."
        raise InputError(msg) from None
    value = next((c for c in ("proportion", "fraction", "count", "n_cells") if c in table.columns), None)
    if "cell_type" not in table.columns or value is None:
        have = ", ".join(map(str, table.columns))
        msg = f"{path}: needs columns cell_type and proportion (or fraction/count); it has {have}."
        raise InputError(msg)
    if table["cell_type"].duplicated().any():
        twice = ", ".join(table.loc[table["cell_type"].duplicated(), "cell_type"])
        msg = f"{path}: cell type(s) listed twice: {twice}."
        raise InputError(msg)
    values = pd.to_numeric(table[value], errors="coerce")
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0]) + 2
        msg = f"{path}: row {row}, column {value}: not a number ({table[value].iloc[row - 2]!r})."
        raise InputError(msg)
    return dict(zip(table["cell_type"], values.astype(float), strict=True))


def run_simulate(
    model_dir: str | Path,
    out_dir: str | Path,
    *,
    n_cells: int,
    cell_types: list[str] | None = None,
    proportions: str | Path | None = None,
    condition: str | None = None,
    seed: int = 0,
    device: str = "auto",
    dispersion: str = "model",
) -> dict[str, Any]:
    """``crossomics simulate``: simulate, write ``<out_dir>/<modality>.h5ad``; returns paths and seconds."""
    shares = None if proportions is None else read_proportions(proportions)
    model = load_model(model_dir, device=device)
    prior = load_latent_prior(model, model_dir, seed=seed)
    start = time.perf_counter()
    sims = simulate(
        model,
        prior,
        n_cells=n_cells,
        cell_types=cell_types or None,
        proportions=shares,
        condition=condition,
        seed=seed,
        dispersion=dispersion,
        model_path=str(model_dir),
    )
    seconds = time.perf_counter() - start
    paths = {name: write_h5ad(adata, Path(out_dir) / f"{name}.h5ad") for name, adata in sims.items()}
    return {"paths": paths, "seconds": seconds, "n_cells": n_cells, "simulated": sims}


SIMULATION_PREFIX = "simulation_"


def _merge_metrics(layout: Layout, entries: dict[str, Any], *, simulation: bool) -> None:
    """Replace one stage's keys of ``metrics/generation.json`` (simulation or generation); keep the rest."""
    path = layout.metrics("generation")
    try:
        current = json.loads(path.read_text()) if path.is_file() else {}
    except json.JSONDecodeError:
        log.warning("%s is not valid JSON; starting it afresh", path)
        current = {}
    current = {k: v for k, v in current.items() if k.startswith(SIMULATION_PREFIX) != simulation}
    write_json({**current, **entries}, path)


def _preprocessed(layout: Layout, sample: str, cache: dict[str, ad.AnnData]) -> ad.AnnData:
    if sample not in cache:
        path = layout.outdir / "preprocess" / f"{sample}.h5ad"
        if not path.is_file():
            msg = f"{path}: missing; generation reads preprocessed cells. Run `crossomics preprocess` first."
            raise InputError(msg)
        cache[sample] = read_preprocessed(path)  # without the normalised X, which generation never reads
    return cache[sample]


def _training_latent(layout: Layout, sample: str, pre: ad.AnnData) -> np.ndarray | None:
    """The sample's joint embedding from ``integration/<sample>.latent.h5ad`` when it holds the same cells as
    ``pre`` (as after the train stage), so that generating from them skips encoding them again."""
    path = layout.latent(sample)
    if not path.is_file():
        return None
    lat = ad.read_h5ad(path)
    if not lat.obs_names.equals(pre.obs_names) or KEYS.latent not in lat.obsm:
        return None
    return np.asarray(lat.obsm[KEYS.latent], dtype=np.float32)


def _generation_pairs(
    layout: Layout, trained: list[SampleRow], cache: dict[str, ad.AnnData]
) -> list[tuple[SampleRow, SampleRow, str, pd.Index]]:
    """The (source, target, key, shared barcodes) to decode: ordered pairs of samples of different modalities
    sharing at least ``MIN_PAIRED_CELLS`` cells, the first target sample of a modality per key."""
    pairs: list[tuple[SampleRow, SampleRow, str, pd.Index]] = []
    keys: set[str] = set()
    for a in trained:
        for b in trained:
            if a.modality == b.modality:
                continue
            pre_a, pre_b = _preprocessed(layout, a.sample, cache), _preprocessed(layout, b.sample, cache)
            shared = pre_a.obs_names.intersection(pre_b.obs_names)
            if len(shared) < MIN_PAIRED_CELLS:
                continue
            key = f"{a.sample}_to_{b.modality}"  # the name the Nextflow GENERATE process gives it
            if key in keys:
                msg = "generation %s: already decoded by another %s sample; %s skipped"
                log.info(msg, key, b.modality, b.sample)
                continue
            keys.add(key)
            pairs.append((a, b, key, shared))
    return pairs


def run_generation_stage(
    layout: Layout,
    rows: list[SampleRow],
    *,
    device: str = "auto",
    seed: int = 0,
    batch_size: int = BATCH_SIZE,
    clock: PartClock | None = None,
) -> dict[str, Any]:
    """Generate each sample as every other modality it has paired cells in; score against the real cells.

    For every ordered pair of samples of different modalities with at least ``MIN_PAIRED_CELLS`` shared
    barcodes, writes ``generation/<sample>_to_<modality>.h5ad``: all cells of ``sample`` decoded by the
    paired sample of that modality (see :func:`~crossomics.tl.generate.generate`; the name the Nextflow
    GENERATE process uses), and ``metrics/generation.json`` key ``<sample>_to_<modality>``:
    :func:`~crossomics.metrics.generation.generation_fidelity` over the shared cells (in-sample: these cells
    were seen in training, unpaired unless ``--paired``).

    ``clock`` gets the seconds of the scoring as part ``fidelity``, the rest as ``generate``.

    Returns
    -------
    The metrics written, by pair.
    """
    clock = clock or PartClock()
    cache: dict[str, ad.AnnData] = {}
    with clock.part("generate"):
        model = load_model(layout.model_dir(), device=device)
        pairs = _generation_pairs(layout, [r for r in rows if r.sample in model.domains], cache)
    metrics: dict[str, Any] = {}
    for a, b, key, shared in pairs:
        pre_a, pre_b = cache[a.sample], cache[b.sample]
        path = layout.dir("generation") / f"{key}.h5ad"
        with clock.part("generate"):
            gen = write_generated(
                model,
                pre_a,
                path,
                source=a.sample,
                target=b.sample,
                batch_size=batch_size,
                model_path=str(layout.model_dir()),
                input_name=f"sample {a.sample}",
                latent=_training_latent(layout, a.sample, pre_a),
            )
        with clock.part("fidelity"):
            # read back only the rows generation_fidelity scores (its default cap: no further subsample)
            likelihood = model.domains[b.sample].likelihood
            scored = shared[fidelity_cells(len(shared), likelihood=likelihood, seed=seed)]
            features = model.domains[b.sample].features
            real, _ = select_counts(pre_b[scored], features, source=f"sample {b.sample}")
            labels = (
                pre_b.obs.loc[scored, KEYS.cell_type].astype(str).to_numpy()
                if KEYS.cell_type in pre_b.obs
                else None
            )
            metrics[key] = {
                "source": a.sample,
                "target": b.sample,
                "n_paired_cells": len(shared),
                "in_sample": True,
                **generation_fidelity(
                    read_rows(path, gen.obs_names.get_indexer(scored)),
                    real,
                    likelihood=likelihood,
                    labels=labels,
                    seed=seed,
                ),
            }
        log.info("generation %s: %s", key, {k: v for k, v in metrics[key].items() if isinstance(v, float)})
    if not metrics:
        log.info("generation: no two samples of different modalities share cells; nothing to score")
    _merge_metrics(layout, metrics, simulation=False)
    return metrics


REALISM_MAX_CELLS = 20_000  # real cells (seeded random subset above this) the simulated cells are scored against


def run_simulation_stage(
    layout: Layout, *, n_cells: int = 2000, seed: int = 0, device: str = "auto", evaluate: bool = True
) -> dict[str, Any]:
    """Simulate ``n_cells`` matched cells into ``simulation/<modality>.h5ad`` and score their realism.

    ``metrics/generation.json`` gains ``simulation_<modality>``:
    :func:`~crossomics.metrics.generation.simulation_realism` against the preprocessed cells of the sample
    that modality was decoded by (count modalities only), with the simulation's seconds.
    """
    model_dir = layout.model_dir()
    result = run_simulate(model_dir, layout.dir("simulation"), n_cells=n_cells, seed=seed, device=device)
    entries: dict[str, Any] = {}
    for name, sim in result["simulated"].items():
        info = sim.uns[KEYS.simulate]
        entry: dict[str, Any] = {
            "sample": info["sample"],
            "n_cells": sim.n_obs,
            "seconds": round(result["seconds"], 2),
        }
        real_path = layout.outdir / "preprocess" / f"{info['sample']}.h5ad"
        if evaluate and info["likelihood"] != "normal" and real_path.is_file():
            real = read_cell_subset(real_path, REALISM_MAX_CELLS, seed=seed)
            counts, _ = select_counts(real, list(map(str, sim.var_names)), source=f"sample {info['sample']}")
            if info["likelihood"] == "bernoulli":
                counts = (counts > 0).astype(np.float32)
            labels = (
                real.obs[KEYS.cell_type].astype(str).to_numpy()
                if KEYS.cell_type in real.obs
                else np.full(real.n_obs, "all")
            )
            entry.update(
                simulation_realism(
                    counts, labels, sim.X, sim.obs[KEYS.cell_type].astype(str).to_numpy(), seed=seed
                )
            )
        entries[f"{SIMULATION_PREFIX}{name}"] = entry
    _merge_metrics(layout, entries, simulation=True)
    return {"paths": result["paths"], "seconds": result["seconds"], "metrics": entries}
