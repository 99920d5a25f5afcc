"""Model folder I/O: state dict + JSON + arrays, SHA-256 checksums, no pickle anywhere."""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import asdict, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .. import __version__
from ..errors import InputError
from ..io.write import atomic_path, write_json, write_text
from ..module.network import Architecture
from ..train import LossWeights, TrainConfig

if TYPE_CHECKING:
    from .cross_model import CrossModel

FORMAT_VERSION = 1
WEIGHTS = "weights.pt"
ARRAYS = "preprocess.npz"
MANIFEST = "model.json"
HISTORY = "history.csv"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _split_params(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    scalars, arrays = {}, {}
    for key, value in params.items():
        if key == "features":
            scalars[key] = [str(v) for v in value]
        elif isinstance(value, np.ndarray) or isinstance(value, list | tuple):
            arrays[key] = np.asarray(value)
        elif isinstance(value, np.generic):
            scalars[key] = value.item()
        else:
            scalars[key] = value
    return scalars, arrays


def save_model(model: CrossModel, path: Path) -> Path:
    """Write the model folder; the manifest (written last) records the checksums of the other files."""
    path.mkdir(parents=True, exist_ok=True)
    with atomic_path(path / WEIGHTS) as tmp:
        torch.save({k: v.detach().cpu() for k, v in model.net.state_dict().items()}, tmp)
    domains, arrays = [], {}
    for d in model.domains.values():
        scalars, arr = _split_params(d.preprocess)
        arrays.update({f"{d.name}/{k}": v.astype(np.float64) for k, v in arr.items()})
        entry = {k: v for k, v in asdict(d).items() if k != "preprocess"}
        entry["preprocess"] = scalars
        domains.append(entry)
    with atomic_path(path / ARRAYS) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    write_text(model.history_frame().to_csv(index=False), path / HISTORY)
    manifest = {
        "format_version": FORMAT_VERSION,
        "crossomics_version": __version__,
        "versions": {"torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version()},
        "arch": asdict(model.arch),
        "smooth_neighbors": model.smooth_neighbors,
        "train_config": asdict(model.train_config) if model.train_config else None,
        "loss_weights": asdict(model.loss_weights) if model.loss_weights else None,
        "domains": domains,
        "sha256": {name: sha256(path / name) for name in (WEIGHTS, ARRAYS, HISTORY)},
    }
    write_json(manifest, path / MANIFEST)
    return path


def read_manifest(path: Path) -> dict[str, Any]:
    """The model's JSON manifest, with clear errors for missing, foreign or incompatible folders."""
    man_path = path / MANIFEST
    if not man_path.is_file():
        msg = f"{path}: not a crossomics model folder ({MANIFEST} is missing). Point --model at DIR/model of a `crossomics train` run."
        raise InputError(msg)
    try:
        manifest = json.loads(man_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        msg = f"{man_path}: not valid JSON ({err}). The model folder is damaged: retrain or restore it."
        raise InputError(msg) from None
    if manifest.get("format_version") != FORMAT_VERSION:
        msg = (
            f"{man_path}: model format {manifest.get('format_version')!r} (crossomics "
            f"{manifest.get('crossomics_version', '?')}) cannot be read by crossomics {__version__} "
            f"(format {FORMAT_VERSION}). Retrain the model with this version."
        )
        raise InputError(msg)
    missing = [k for k in ("arch", "domains", "smooth_neighbors", "sha256") if k not in manifest]
    unchecked = [f for f in (WEIGHTS, ARRAYS) if f not in (manifest.get("sha256") or {})]
    if missing or unchecked:
        what = f"lacks {', '.join(missing)}" if missing else f"records no SHA-256 for {', '.join(unchecked)}"
        msg = f"{man_path}: {what}; it was not written by `crossomics train`, or was edited. Refusing to load it: retrain."
        raise InputError(msg)
    for name, digest in manifest["sha256"].items():
        f = path / name
        if not f.is_file():
            msg = f"{path}: {name} is missing from the model folder. Copy the whole folder, or retrain."
            raise InputError(msg)
        if sha256(f) != digest:
            msg = f"{f}: SHA-256 does not match the one recorded in {MANIFEST}: the file was changed or damaged. Refusing to load it."
            raise InputError(msg)
    return manifest


def load_model(cls: type[CrossModel], path: Path, *, device: str = "cpu") -> CrossModel:
    from .cross_model import DomainInfo

    manifest = read_manifest(path)
    try:
        with np.load(path / ARRAYS, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (ValueError, OSError) as err:  # object arrays (pickles) are refused by allow_pickle=False
        msg = f"{path / ARRAYS}: not plain numeric arrays ({err}). Refusing it: retrain, or restore the folder."
        raise InputError(msg) from None
    infos = []
    for entry in manifest["domains"]:
        params = dict(entry["preprocess"])
        params["features"] = np.asarray(params["features"], dtype=object)
        prefix = f"{entry['name']}/"
        params.update({k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)})
        infos.append(DomainInfo(**{**{k: v for k, v in entry.items() if k != "preprocess"}, "preprocess": params}))
    arch = Architecture(**{f.name: manifest["arch"][f.name] for f in fields(Architecture) if f.name in manifest["arch"]})
    model = cls(infos, arch=arch, smooth_neighbors=manifest["smooth_neighbors"])
    try:
        model.net.load_state_dict(torch.load(path / WEIGHTS, map_location="cpu", weights_only=True))
    except Exception as err:  # noqa: BLE001 - anything but a plain state dict of this architecture is refused
        msg = (
            f"{path / WEIGHTS}: not a state dict of the network described in {MANIFEST} ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}). Refusing it: retrain, or restore the folder."
        )
        raise InputError(msg) from None
    if manifest.get("train_config"):
        model.train_config = TrainConfig(**manifest["train_config"])
    if manifest.get("loss_weights"):
        model.loss_weights = LossWeights(**manifest["loss_weights"])
    import pandas as pd

    hist = pd.read_csv(path / HISTORY) if (path / HISTORY).stat().st_size > 1 else pd.DataFrame()
    model.history = hist.to_dict("records")
    return model.to(device)
