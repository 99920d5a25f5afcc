"""Safety: nothing read is executed, checkpoints and models load without pickle, non-root container, no network.

The source checks walk the syntax tree of every Python file in src/ and bin/ (so ``net.eval()`` is not
``eval(``); a plain-text scan backs them up for files that are not Python.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import torch
from _train_demo import copy_inputs, sheet_for
from conftest import REPO, assert_user_error

SOURCES = sorted((REPO / "src").rglob("*.py")) + sorted((REPO / "bin").glob("*.py"))
NETWORK_MODULES = (
    "urllib",
    "requests",
    "http",
    "httpx",
    "aiohttp",
    "socket",
    "ftplib",
    "pooch",
    "urllib3",
    "smtplib",
)
DOWNLOADERS = {(m, "datasets") for m in ("sc", "scanpy", "scvi", "muon")}
URL = r"\b(https?|ftp)://"
UNPICKLERS = {  # (module alias as written, attribute) that unpickle what they read
    ("pickle", "load"),
    ("pickle", "loads"),
    ("pickle", "Unpickler"),
    ("joblib", "load"),
    ("dill", "load"),
    ("dill", "loads"),
    ("cloudpickle", "load"),
    ("cloudpickle", "loads"),
    ("pd", "read_pickle"),
    ("pandas", "read_pickle"),
    ("shelve", "open"),
    ("marshal", "loads"),
}


def _trees() -> list[tuple[Path, ast.AST]]:
    return [(p, ast.parse(p.read_text(), filename=str(p))) for p in SOURCES]


def _calls(tree: ast.AST):
    return (n for n in ast.walk(tree) if isinstance(n, ast.Call))


def _name(func: ast.expr) -> tuple[str, str] | None:
    """``(module, attribute)`` of ``module.attribute(...)``, ``("", name)`` of ``name(...)``."""
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.value.id, func.attr
    if isinstance(func, ast.Name):
        return "", func.id
    return None


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(REPO)}:{node.lineno}"


def test_the_scan_sees_the_whole_package():
    names = {p.relative_to(REPO).as_posix() for p in SOURCES}
    assert {
        "src/crossomics/model/store.py",
        "src/crossomics/train/trainer.py",
        "bin/crossomics_train.py",
    } <= names
    assert len([n for n in names if n.startswith("bin/")]) >= 10 and len(names) > 80


def test_no_shell_true_eval_exec_or_os_system():
    found = []
    for path, tree in _trees():
        for call in _calls(tree):
            name = _name(call.func)
            if any(
                k.arg == "shell" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
                for k in call.keywords
            ):
                found.append(f"{_where(path, call)} shell=")
            if name in {("", "eval"), ("", "exec"), ("", "__import__"), ("os", "system"), ("os", "popen")}:
                found.append(f"{_where(path, call)} {'.'.join(filter(None, name))}(")
    assert found == []


def test_subprocesses_get_an_argument_list_not_a_command_string():
    found = []
    for path, tree in _trees():
        for call in _calls(tree):
            name = _name(call.func)
            command = call.args[0] if call.args else None
            if (
                name
                and name[0] == "subprocess"
                and isinstance(command, ast.Constant | ast.JoinedStr | ast.BinOp)
            ):
                found.append(_where(path, call))
    assert found == []


def test_nothing_is_unpickled():
    found = []
    for path, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                modules = (
                    [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                )
                if any(
                    m.split(".")[0] in {"pickle", "joblib", "dill", "cloudpickle", "shelve", "marshal"}
                    for m in modules
                ):
                    found.append(f"{_where(path, node)} import {modules}")
        for call in _calls(tree):
            name = _name(call.func)
            if name in UNPICKLERS:
                found.append(f"{_where(path, call)} {'.'.join(name)}")
            if name and name[1] == "load" and name[0] in {"np", "numpy"}:
                pickles = [k for k in call.keywords if k.arg == "allow_pickle"]
                if pickles and not (
                    isinstance(pickles[0].value, ast.Constant) and pickles[0].value.value is False
                ):
                    found.append(f"{_where(path, call)} np.load(allow_pickle=...)")
            if name == ("yaml", "load") or name == ("yaml", "unsafe_load"):
                found.append(f"{_where(path, call)} {'.'.join(name)} (use yaml.safe_load)")
    assert found == []


def test_every_torch_load_has_weights_only_true():
    loads = []
    for path, tree in _trees():
        for call in _calls(tree):
            if _name(call.func) == ("torch", "load"):
                safe = any(
                    k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                    for k in call.keywords
                )
                loads.append((_where(path, call), safe))
    assert len(loads) >= 2  # the model weights and the training checkpoint
    assert [w for w, safe in loads if not safe] == []


def test_plain_text_scan_agrees():
    """A grep over every file in src/ and bin/ (Python or not) for the same patterns."""
    pattern = re.compile(
        r"shell\s*=\s*True|(?<![.\w])(eval|exec)\s*\(|pickle\.loads?\(|joblib\.load\(|os\.system\("
    )
    hits = []
    for path in sorted((REPO / "src").rglob("*")) + sorted((REPO / "bin").rglob("*")):
        if path.is_file() and path.suffix not in {".pyc", ".tsv"}:
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
                code = line.split("#", 1)[0]
                if pattern.search(code):
                    hits.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert hits == []


def test_no_network_access_at_run_time():
    found = []
    for path, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                modules = (
                    [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                )
                found += [
                    f"{_where(path, node)} import {m}" for m in modules if m.split(".")[0] in NETWORK_MODULES
                ]
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.search(URL, node.value):
                found.append(f"{_where(path, node)} URL {node.value[:60]!r}")
            if isinstance(node, ast.Attribute) and _name(node) in DOWNLOADERS:  # their loaders download data
                found.append(f"{_where(path, node)} {'.'.join(_name(node))}")
    assert found == []
    # Nextflow modules: their scripts fetch nothing either (container images are pulled by Nextflow itself)
    for main in sorted((REPO / "modules").rglob("main.nf")):
        script = "\n".join(
            line for line in main.read_text().splitlines() if not line.strip().startswith("container")
        )
        assert not re.search(rf"\b(curl|wget)\b|{URL}", script), main


def test_the_report_tells_multiqc_not_to_phone_home():
    text = (REPO / "src" / "crossomics" / "report" / "multiqc.py").read_text()
    assert '"--no-version-check"' in text and '"--no-ai"' in text


def test_the_container_runs_as_a_non_root_user():
    lines = [line.strip() for line in (REPO / "Dockerfile").read_text().splitlines()]
    instructions = [line.split(None, 1) for line in lines if line and not line.startswith("#")]
    last_from = max(i for i, parts in enumerate(instructions) if parts[0].upper() == "FROM")
    users = [parts[1].strip() for parts in instructions[last_from:] if parts[0].upper() == "USER"]
    assert users, "no USER after the final FROM: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


# --- behaviour: a crafted pickle is refused, never run -----------------------------------------------------


class _Payload:
    """Unpickling this creates a folder: proof that the file was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (str(self.marker),))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_model_weights_that_are_a_crafted_pickle_are_refused_not_run(run_cli, demo_data, demo_run, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(demo_run / "model", model)
    marker = tmp_path / "pwned"
    torch.save({"net": _Payload(marker)}, model / "weights.pt")
    manifest = json.loads((model / "model.json").read_text())
    manifest["sha256"]["weights.pt"] = _sha256(model / "weights.pt")  # the attacker also rewrote the checksum
    (model / "model.json").write_text(json.dumps(manifest))
    result = run_cli(
        "embed",
        "--model",
        model,
        "--input",
        demo_data / "rna_a.h5ad",
        "--sample",
        "x",
        "--modality",
        "rna_a",
        "--outdir",
        tmp_path / "out",
        "--device",
        "cpu",
    )
    assert_user_error(result, f"{model / 'weights.pt'}: not a state dict", "Refusing it")
    assert not marker.exists()


def test_a_checkpoint_that_is_a_crafted_pickle_is_refused_not_run(run_cli, demo_data, demo_run, tmp_path):
    outdir = copy_inputs(demo_run, tmp_path / "results")
    (outdir / "model").mkdir()
    marker = tmp_path / "pwned"
    torch.save({"net": _Payload(marker), "stage": "align"}, outdir / "model" / "checkpoint.pt")
    result = run_cli(
        "train",
        "--input",
        sheet_for(demo_data, tmp_path),
        "--outdir",
        outdir,
        "--device",
        "cpu",
        "--resume",
        "--max-epochs",
        "1",
    )
    assert_user_error(result, "--resume: checkpoint", "cannot be restored", "delete it to train from scratch")
    assert not marker.exists()
    assert sorted(p.name for p in (outdir / "model").iterdir()) == ["checkpoint.pt"]


def test_model_arrays_holding_objects_are_refused(run_cli, demo_run, tmp_path):
    import numpy as np

    model = tmp_path / "model"
    shutil.copytree(demo_run / "model", model)
    with np.load(model / "preprocess.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays[next(iter(arrays))] = np.array([_Payload(tmp_path / "pwned")], dtype=object)
    with open(model / "preprocess.npz", "wb") as fh:
        np.savez(fh, **arrays)
    manifest = json.loads((model / "model.json").read_text())
    manifest["sha256"]["preprocess.npz"] = _sha256(model / "preprocess.npz")
    (model / "model.json").write_text(json.dumps(manifest))
    result = run_cli(
        "simulate", "--model", model, "--n-cells", "5", "--out", tmp_path / "sim", "--device", "cpu"
    )
    assert_user_error(result, f"{model / 'preprocess.npz'}: not plain numeric arrays", "Refusing it")
    assert not (tmp_path / "pwned").exists()
