"""The Dockerfile, checked without Docker.

- hadolint reports nothing, and every rule it is told to ignore is explained on the comment lines above;
  a Dockerfile with the usual mistakes is reported (the check can fail);
- every path it copies exists and is in the build context (.dockerignore);
- its pip command installs the package into a fresh virtual environment, from a build context holding
  only the copied files, with the CPU build of torch standing in for the base image's CUDA build; the
  installed (non-editable) package, its console script and the bin/ scripts then run.

The fresh environment sees the package's dependencies through a .pth file pointing at
.tools/docker-deps (built by ``make nextflow-tools`` from pyproject.toml, rebuilt when it changes), so
the test installs only the package itself and takes seconds.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "nextflow"))
import nfconfig  # noqa: E402
import tasks  # noqa: E402

import crossomics  # noqa: E402

REPO = tasks.REPO
DOCKERFILE = REPO / "Dockerfile"
HADOLINT = tasks.TOOLS / "checks-venv" / "bin" / "hadolint"
DOCKER_DEPS = tasks.TOOLS / "docker-deps"


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out, current = [], ""
    for line in text.splitlines():
        if line.strip().startswith("#") and not current:
            continue
        current += line.rstrip("\\").strip() + " " if line.rstrip().endswith("\\") else line.strip()
        if not line.rstrip().endswith("\\"):
            if current.strip():
                word, _, rest = current.strip().partition(" ")
                out.append((word.upper(), rest.strip()))
            current = ""
    return out


def _context_files() -> set[str]:
    """Paths (relative, posix) the build context holds after .dockerignore (allowlist with `!` lines)."""
    rules = [r.strip() for r in (REPO / ".dockerignore").read_text().splitlines() if r.strip() and not r.startswith("#")]
    tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.split()
    kept = set()
    for path in tracked:
        included = True
        for rule in rules:
            negate = rule.startswith("!")
            pattern = rule.lstrip("!").rstrip("/")
            parts = path.split("/")
            hit = any(fnmatch.fnmatch("/".join(parts[:i]), pattern) for i in range(1, len(parts) + 1))
            hit = hit or fnmatch.fnmatch(path, pattern.replace("**/", "*"))
            if hit:
                included = negate
        if included:
            kept.add(path)
    return kept


def _hadolint(path: Path) -> subprocess.CompletedProcess:
    if not HADOLINT.exists():
        pytest.fail(f"{HADOLINT} is missing: run `make nextflow-tools`")
    return subprocess.run([str(HADOLINT), "--no-color", str(path)], capture_output=True, text=True, check=False)


def test_hadolint_reports_nothing() -> None:
    proc = _hadolint(DOCKERFILE)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_hadolint_catches_common_mistakes(tmp_path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM pytorch/pytorch:latest\nRUN apt-get update && apt-get install procps\nRUN pip install crossomics\n")
    out = _hadolint(bad).stdout
    for rule in ("DL3007", "DL3008", "DL3009", "DL3013", "DL3015", "DL3042"):
        assert rule in out, (rule, out)


def test_every_ignored_rule_is_explained() -> None:
    lines = DOCKERFILE.read_text().splitlines()
    ignores = [(i, line) for i, line in enumerate(lines) if "hadolint ignore=" in line]
    for i, line in ignores:
        rules = re.search(r"ignore=([\w,]+)", line).group(1).split(",")
        comments = []
        j = i - 1
        while j >= 0 and lines[j].lstrip().startswith("#"):
            comments.append(lines[j])
            j -= 1
        for rule in rules:
            assert any(rule in c for c in comments), f"Dockerfile line {i + 1}: ignore of {rule} has no explanation above it"


def test_copy_sources_exist_and_are_in_the_build_context() -> None:
    context = _context_files()
    copies = [args for word, args in _instructions(DOCKERFILE.read_text()) if word in ("COPY", "ADD")]
    assert copies
    for args in copies:
        sources = [a for a in args.split()[:-1] if not a.startswith("--")]
        for source in sources:
            path = REPO / source
            assert path.exists(), f"COPY {source}: no such file or folder in the repository"
            inside = [f for f in context if f == source or f.startswith(source.rstrip("/") + "/")]
            assert inside, f"COPY {source}: excluded from the build context by .dockerignore"
    assert not any(f.startswith((".venv/", ".tools/", "tests/")) for f in context)


def test_image_basics() -> None:
    instructions = _instructions(DOCKERFILE.read_text())
    base = next(args for word, args in instructions if word == "FROM")
    assert re.fullmatch(r"pytorch/pytorch:\d+\.\d+\.\d+-cuda[\d.]+-cudnn\d+-runtime", base), base
    runs = " ".join(args for word, args in instructions if word == "RUN")
    assert "procps" in runs
    env = " ".join(args for word, args in instructions if word == "ENV")
    assert "/opt/crossomics/bin" in env
    user = [args for word, args in instructions if word == "USER"]
    assert user and user[-1].split(":")[0] not in ("0", "root")
    config = nfconfig.load_config(REPO / "nextflow.config")
    assert config["process"]["container"] == f"ghcr.io/crossomics/crossomics:{crossomics.__version__}"


@pytest.fixture(scope="session")
def dependency_site(tmp_path_factory) -> Path:
    """site-packages of .tools/docker-deps (the dependencies with CPU torch), built here if missing or stale."""
    stamp = DOCKER_DEPS / ".installed"
    if not stamp.exists() or stamp.stat().st_mtime < (REPO / "pyproject.toml").stat().st_mtime:
        torch_pin = re.search(r"^TORCH_CPU\s*:?=\s*(\S+)", (REPO / "Makefile").read_text(), re.MULTILINE).group(1)
        proc = subprocess.run(["make", "-s", "-f", "mk/nextflow-checks.mk", "PYTHON=python3", f"TORCH_CPU={torch_pin}",
                               f"{DOCKER_DEPS.relative_to(REPO)}/.installed"], cwd=REPO, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    site = next((DOCKER_DEPS / "lib").glob("python3*/site-packages"))
    assert (site / "torch").is_dir() and not list(site.glob("crossomics*"))
    return site


@pytest.mark.slow
def test_dockerfile_pip_install_works_in_a_fresh_venv(tmp_path, dependency_site) -> None:
    instructions = _instructions(DOCKERFILE.read_text())
    workdir = next(args for word, args in instructions if word == "WORKDIR")
    assert workdir == "/opt/crossomics"
    # the build context, laid out as the COPY instructions lay it out in WORKDIR
    context = tmp_path / "opt" / "crossomics"
    context.mkdir(parents=True)
    for word, args in instructions:
        if word != "COPY":
            continue
        *sources, dest = args.split()
        into = context / dest
        for source in sources:
            if (REPO / source).is_dir():  # a folder's contents go into dest
                shutil.copytree(REPO / source, into, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
            else:  # files go into dest/ (several sources, or dest ending in /) or become dest
                target = into / source if dest.endswith("/") or len(sources) > 1 else into
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / source, target)
    install = next(args for word, args in instructions if word == "RUN" and "pip install" in args)
    pip_command, _, check_command = install.partition("&&")
    assert pip_command.strip().startswith("pip install")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "_docker_deps.pth").write_text(str(dependency_site) + "\n")  # CPU torch + dependencies
    env = dict(os.environ, PATH=f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", PIP_NO_INPUT="1")
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(["bash", "-c", pip_command.strip().replace("pip install", f"{venv / 'bin' / 'python'} -m pip install", 1)],
                          cwd=context, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Successfully installed crossomics" in proc.stdout, proc.stdout[-2000:]

    check = subprocess.run(["bash", "-c", check_command.strip()], cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    assert f"crossomics {crossomics.__version__} torch" in check.stdout
    # the installed copy (not the repository's editable one), its console script, and a bin/ script
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import crossomics; print(crossomics.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(site)), where
    assert subprocess.run([str(venv / "bin" / "crossomics"), "--help"], env=env, capture_output=True, check=False).returncode == 0
    env_bin = dict(env, PATH=f"{context / 'bin'}{os.pathsep}{env['PATH']}")
    proc = subprocess.run(["crossomics_qc.py", "--help"], env=env_bin, capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "--modality" in proc.stdout, proc.stderr
