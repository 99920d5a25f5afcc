"""Checks and choices made before a perturbation screen: genes, cells, target modalities, naive baseline."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from .._keys import KEYS
from ..errors import InputError, join_problems
from ..model import CrossModel
from ..pp.features import NORM_LOG, normalise

N_SUGGESTIONS = 3


def read_gene_list(path: str | Path) -> list[str]:
    """Genes from a text file: one per line, or separated by commas, tabs or spaces; ``#`` comments."""
    path = Path(path)
    if not path.is_file():
        msg = f"gene list {path} does not exist: pass a text file with one gene per line to --gene-list."
        raise InputError(msg)
    genes = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0]
        genes.extend(g for g in line.replace(",", " ").split() if g)
    return genes


def _close(name: str, pool: Sequence[str]) -> list[str]:
    """Close matches: same name in other letter case, names contained in each other, then difflib's."""
    key = name.lower()
    exact = [p for p in pool if p.lower() == key]
    words = set(key.replace("_", " ").replace("-", " ").split())
    parts = [p for p in pool if p.lower() in words or (len(key) > 3 and key in p.lower())]
    near = difflib.get_close_matches(name, list(pool), n=N_SUGGESTIONS, cutoff=0.6)
    return list(dict.fromkeys(exact + parts + near))[:N_SUGGESTIONS]


def resolve_genes(
    requested: Sequence[str], features: Sequence[str], data_features: Sequence[str], *, domain: str
) -> list[int]:
    """Positions of the requested genes among the model's input features (unique, in the order given).

    Raises
    ------
    InputError
        For an empty list, or naming every unknown gene with close matches and every gene the data has but
        the model does not use as input.
    """
    requested = list(dict.fromkeys(str(g).strip() for g in requested if str(g).strip()))
    if not requested:
        msg = "the gene list is empty: name genes with --genes G1,G2, a file with --gene-list, or use --all."
        raise InputError(msg)
    index = pd.Index(np.asarray(features, dtype=str))
    in_data = set(map(str, data_features))
    problems = []
    for gene in requested:
        if gene in index:
            continue
        if gene in in_data:
            problems.append(
                f"{gene}: in the input data but not among the {len(index)} input features of the model's "
                f"domain {domain} (not selected at preprocessing); pick a gene the model was trained on"
            )
        else:
            hint = _close(gene, list(index))
            problems.append(f"{gene}: unknown gene" + (f"; did you mean {', '.join(hint)}?" if hint else ""))
    if problems:
        example = ", ".join(index[:3])
        header = (
            f"{len(problems)} gene(s) cannot be perturbed; correct or remove them (the model's domain {domain} "
            f"takes {len(index)} genes as input, e.g. {example}):"
        )
        raise InputError(join_problems(problems, header))
    return [int(i) for i in index.get_indexer(requested)]


def obs_mask(adata: AnnData, key: str, value: str, *, what: str, option: str) -> np.ndarray:
    """Cells whose ``obs[key]`` equals ``value`` (an error naming the values present otherwise)."""
    if key not in adata.obs:
        present = ", ".join(map(str, adata.obs.columns))
        msg = f"input cells have no obs column {key!r} for {option}; columns present: {present}."
        raise InputError(msg)
    values = adata.obs[key].astype(str).to_numpy()
    mask = values == str(value)
    if not mask.any():
        present = sorted(set(values))
        hint = _close(str(value), present)
        msg = f"no input cell has {what} {value!r} (obs[{key!r}]); present: {', '.join(present[:20])}" + (
            f"; did you mean {', '.join(hint)}?" if hint else "."
        )
        raise InputError(msg)
    return mask


def resolve_targets(model: CrossModel, source: str, modalities: Sequence[str] | None) -> dict[str, str]:
    """Target modality -> decoded domain (the source domain for its own modality, else the first of each)."""
    known = list(dict.fromkeys(d.modality for d in model.domains.values()))
    wanted = list(dict.fromkeys(modalities)) if modalities else known
    own = model.domains[source].modality
    wanted = sorted(wanted, key=lambda m: m != own)  # the source modality first
    out = {}
    for m in wanted:
        if m not in known:
            msg = f"--target-modalities: the model has no modality {m!r}; it has {', '.join(known)}."
            raise InputError(msg)
        out[m] = source if m == own else model.resolve_domain(m)
    return out


def resolve_source(model: CrossModel, adata: AnnData, modality: str) -> str:
    """The source domain: a sample id, or for a modality name the domain named in ``obs["sample"]`` if any."""
    if modality in model.domains:
        return modality
    domain = model.resolve_domain(modality)
    if KEYS.sample in adata.obs:
        samples = set(map(str, adata.obs[KEYS.sample].unique()))
        same = [d for d in samples if d in model.domains and model.domains[d].modality == modality]
        if len(same) == 1:
            return same[0]
    return domain


def log_normalised(counts: sp.spmatrix) -> sp.csr_matrix:
    """log1p of counts per 10k (size factors over the given columns)."""
    return sp.csr_matrix(normalise(counts, NORM_LOG, target_sum=1e4))


def naive_correlation(genes: np.ndarray, target: sp.csr_matrix) -> np.ndarray:
    """Pearson correlation of each gene (cells x genes, dense) with each target feature (cells x features).

    The naive co-expression predictor: a feature is predicted to follow a perturbed gene as much as it
    co-varies with it across the unperturbed cells. Returns genes x features (0 where either is constant).
    """
    n = genes.shape[0]
    xc = genes - genes.mean(axis=0)
    sx = np.sqrt((xc * xc).sum(axis=0) / n)
    cov = np.asarray(target.T @ xc).T / n
    mean_t = np.asarray(target.mean(axis=0)).ravel()
    sq = target.multiply(target)
    st = np.sqrt(np.maximum(np.asarray(sq.mean(axis=0)).ravel() - mean_t**2, 0.0))
    denom = np.outer(sx, st)
    return np.divide(cov, denom, out=np.zeros_like(cov), where=denom > 0)


def paired_counts(
    adata: AnnData, paired: AnnData, features: Sequence[str], cells: np.ndarray, *, source: str
) -> sp.csr_matrix:
    """Counts of ``features`` in ``paired`` for the input ``cells`` (matched by name; zeros if absent)."""
    from ..model.inputs import select_counts

    counts, _ = select_counts(paired, list(features), source=source)
    pos = paired.obs_names.get_indexer(adata.obs_names[cells])
    if (pos < 0).all():
        msg = (
            f"{source}: no cell name in common with the input cells; pass the paired file of the same cells."
        )
        raise InputError(msg)
    rows = sp.csr_matrix(
        (np.ones((pos >= 0).sum()), (np.flatnonzero(pos >= 0), pos[pos >= 0])),
        shape=(cells.size, paired.n_obs),
    )
    return sp.csr_matrix(rows @ counts)
