"""Cross-modal generation: encode cells of one modality, decode them as another.

The path is deterministic and the same for training cells and new cells: raw counts are projected with the
preprocessing fitted at training (never re-fitted), smoothed among the cells given, encoded to their
posterior means in the joint space and decoded by the target domain. Nothing of the target modality is read
(scCross set the library size from the target's own data).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from .. import __version__
from .._keys import KEYS
from ..errors import InputError
from ..model import CrossModel

log = logging.getLogger("crossomics")

BATCH_SIZE = 1024  # cells encoded and decoded at a time
MIN_MATCHED = 0.5  # least fraction of the model's features the input must have
_CHECKED_VALUES = 200_000  # stored values inspected when checking that an input holds counts


def load_model(path: str | Path, *, device: str = "auto") -> CrossModel:
    """Load ``DIR/model`` (checksums verified) onto ``device`` with a clear error for a wrong folder."""
    path = Path(path)
    if not path.is_dir():
        msg = f"{path}: model folder not found. Point --model at DIR/model of a `crossomics train` run."
        raise InputError(msg)
    return CrossModel.load(path, device=device)


def check_counts(adata: AnnData, model: CrossModel, domain: str, *, source: str) -> None:
    """Refuse data that cannot be the raw counts the domain was trained on (negative or non-integer)."""
    info = model.domains[domain]
    mat = adata.layers[KEYS.counts] if KEYS.counts in adata.layers else adata.X
    values = mat.data if sp.issparse(mat) else np.asarray(mat).ravel()
    values = np.asarray(values[:_CHECKED_VALUES], dtype=np.float64)
    if values.size and values.min() < 0:
        msg = (
            f"{source}: holds negative values (min {values.min():g}); the model projects raw counts. "
            "Give raw counts in X or layers['counts']."
        )
        raise InputError(msg)
    fractional = values[~np.isclose(values, np.round(values))]
    if info.likelihood != "normal" and fractional.size:
        example = fractional[0]
        msg = (
            f"{source}: holds non-integer values (e.g. {example:g}), but "
            f"domain {domain!r} ({info.modality}) was trained on raw counts. Give raw counts in X or "
            "layers['counts'], not normalised values."
        )
        raise InputError(msg)


def matched_features(
    adata: AnnData, model: CrossModel, domain: str, *, source: str, min_matched: float
) -> int:
    """How many of the domain's projection features are in ``adata``; an error below ``min_matched``."""
    features = np.asarray(model.domains[domain].preprocess["features"]).astype(str)
    n_matched = int(pd.Index(features).isin(adata.var_names.astype(str)).sum())
    if n_matched < min_matched * len(features):
        example = ", ".join(features[:3])
        msg = (
            f"{source}: only {n_matched} of the model's {len(features)} {model.domains[domain].modality} "
            f"features (domain {domain!r}, e.g. {example}) are in this data "
            f"({n_matched / len(features):.0%}; at least {min_matched:.0%} needed). Give data of the "
            "modality the model was trained on, with the same feature names (gene symbols or chrN:start-end "
            "peaks)."
        )
        raise InputError(msg)
    if n_matched < len(features):
        log.warning(
            "%s: %d of the model's %d features are missing; they are filled with zeros",
            source,
            len(features) - n_matched,
            len(features),
        )
    return n_matched


def embed(
    model: CrossModel,
    adata: AnnData,
    domain: str,
    *,
    source: str = "input",
    min_matched: float = MIN_MATCHED,
) -> tuple[np.ndarray, int]:
    """Joint embedding of ``adata``'s cells as cells of ``domain`` (checked), and features missing."""
    if adata.n_obs == 0:
        msg = f"{source}: has no cells."
        raise InputError(msg)
    matched_features(adata, model, domain, source=source, min_matched=min_matched)
    check_counts(adata, model, domain, source=source)
    reduced, n_missing = model.reduced(adata, domain)
    inputs = model.inputs_from_reduced(reduced)
    return model.embed_inputs(inputs, domain), n_missing


def decode_batches(
    model: CrossModel,
    z: np.ndarray,
    domain: str,
    *,
    batch_size: int = BATCH_SIZE,
    library: float | None = None,
) -> np.ndarray:
    """Expected values of ``domain``'s features at joint points ``z``, ``batch_size`` cells at a time."""
    out = np.empty((len(z), len(model.domains[domain].features)), dtype=np.float32)
    for start in range(0, len(z), batch_size):
        out[start : start + batch_size] = model.decode(z[start : start + batch_size], domain, library=library)
    return out


def generate(
    model: CrossModel,
    adata: AnnData,
    *,
    source: str,
    target: str,
    batch_size: int = BATCH_SIZE,
    library: float | None = None,
    min_matched: float = MIN_MATCHED,
    model_path: str | Path | None = None,
    input_name: str = "input",
) -> AnnData:
    """Generate ``target``-modality profiles of cells measured in ``source`` (cross-modal translation).

    Parameters
    ----------
    model
        A trained :class:`~crossomics.model.CrossModel`.
    adata
        Cells x features of the source modality, raw counts in ``layers["counts"]`` or ``X``; training
        cells or new cells with the same feature names.
    source, target
        Modality names or sample ids of the model (a modality picks its first sample).
    batch_size
        Cells encoded and decoded at a time (bounds memory for wide targets such as peaks).
    library
        Library size the negative-binomial means are scaled to (default: the target sample's median).
    min_matched
        Least fraction of the source features that must be present; missing ones are filled with zeros.
    model_path, input_name
        Recorded in ``uns`` and used in messages.

    Returns
    -------
    A new AnnData with the input's ``obs`` (same ``obs_names``) and the target's features in ``var``:

    - ``X``: expected counts (negative binomial) or probabilities (Bernoulli), dense float32;
    - ``obsm["X_crossomics"]``: the cells' joint embedding;
    - ``uns["crossomics_generate"]``: model path, source and target (as given, sample and modality),
      likelihood, library, features expected and missing, crossomics version.

    See :func:`write_generated` to write the result without holding all of ``X`` in memory.
    """
    out, z, tgt = _without_x(
        model, adata, source=source, target=target, batch_size=batch_size, library=library,
        min_matched=min_matched, model_path=model_path, input_name=input_name,
    )  # fmt: skip
    out.X = decode_batches(model, z, tgt, batch_size=batch_size, library=library)
    return out


def write_generated(
    model: CrossModel,
    adata: AnnData,
    path: str | Path,
    *,
    source: str,
    target: str,
    batch_size: int = BATCH_SIZE,
    library: float | None = None,
    min_matched: float = MIN_MATCHED,
    model_path: str | Path | None = None,
    input_name: str = "input",
    latent: np.ndarray | None = None,
) -> AnnData:
    """:func:`generate` straight into the ``.h5ad`` file ``path`` (atomically), ``batch_size`` cells at a time.

    Memory holds one batch of decoded values, never the cells x features matrix (for peaks, 20,000 cells x
    50,000 peaks is 4 GB of float32). The file is what ``generate(...).write_h5ad(path)`` writes.
    ``latent``: the cells' joint embedding when it is already known (the training cells' own, from
    ``integration/<sample>.latent.h5ad``); the cells are then not encoded again.

    Returns
    -------
    The written AnnData without ``X`` (``obs``, ``var``, ``obsm`` and ``uns`` as in :func:`generate`); read
    rows of ``X`` back with :func:`read_rows`.
    """
    import h5py

    from ..io.write import atomic_path, require_free_space

    out, z, tgt = _without_x(
        model, adata, source=source, target=target, batch_size=batch_size, library=library,
        min_matched=min_matched, model_path=model_path, input_name=input_name, latent=latent,
    )  # fmt: skip
    require_free_space(path, 4 * out.n_obs * out.n_vars, what=f"{out.n_obs} x {out.n_vars} generated values")
    with atomic_path(path) as tmp:
        out.write_h5ad(tmp)
        with h5py.File(tmp, "a") as f:
            x = f.create_dataset("X", shape=out.shape, dtype=np.float32)
            x.attrs["encoding-type"], x.attrs["encoding-version"] = "array", "0.2.0"  # anndata's dense X
            for start in range(0, out.n_obs, batch_size):
                x[start : start + batch_size] = model.decode(
                    z[start : start + batch_size], tgt, library=library
                )
    return out


def read_rows(path: str | Path, rows: np.ndarray) -> np.ndarray:
    """Rows ``rows`` (in that order) of the dense ``X`` of an ``.h5ad`` file written by :func:`write_generated`."""
    import h5py

    rows = np.asarray(rows, dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    unique, inverse = np.unique(rows[order], return_inverse=True)
    with h5py.File(path, "r") as f:
        values = f["X"][unique] if len(unique) else np.zeros((0, f["X"].shape[1]), np.float32)
    out = np.empty((len(rows), values.shape[1]), dtype=values.dtype)
    out[order] = values[inverse]
    return out


def _without_x(
    model: CrossModel,
    adata: AnnData,
    *,
    source: str,
    target: str,
    batch_size: int,
    library: float | None,
    min_matched: float,
    model_path: str | Path | None,
    input_name: str,
    latent: np.ndarray | None = None,
) -> tuple[AnnData, np.ndarray, str]:
    """The output of :func:`generate` without ``X``, the cells' joint embedding and the target domain."""
    if batch_size < 1:
        msg = f"batch size {batch_size} must be at least 1."
        raise InputError(msg)
    src, tgt = model.resolve_domain(source), model.resolve_domain(target)
    if latent is None:
        z, n_missing = embed(model, adata, src, source=input_name, min_matched=min_matched)
    else:
        if latent.shape != (adata.n_obs, model.arch.n_joint):
            expected = (adata.n_obs, model.arch.n_joint)
            msg = f"{input_name}: a latent of shape {latent.shape}; expected {expected} (cells x joint dims)."
            raise InputError(msg)
        z, n_missing = np.asarray(latent, dtype=np.float32), 0
    info = model.domains[tgt]
    out = AnnData(obs=adata.obs.copy(), var=pd.DataFrame(index=pd.Index(info.features, dtype=str)))
    out.obsm[KEYS.latent] = z.astype(np.float32)
    out.uns[KEYS.generate] = {
        "model": str(model_path or ""),
        "input": input_name,
        "source": source,
        "source_sample": src,
        "source_modality": model.domains[src].modality,
        "target": target,
        "target_sample": tgt,
        "target_modality": info.modality,
        "likelihood": info.likelihood,
        "library": float(info.library_median if library is None else library),
        "n_features_expected": len(model.domains[src].preprocess["features"]),
        "n_missing": int(n_missing),
        "version": __version__,
    }
    return out, z, tgt
