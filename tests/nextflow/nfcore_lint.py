"""Run ``nf-core pipelines lint`` offline on the pipeline as a fresh clone would have it.

The files git knows (tracked, and new files not ignored) are copied to a temporary folder, so that the
lint neither walks the ignored tool and virtual-environment folders (.tools/, .venv/: slow, and full of
third-party code) nor sees files a clone would not have. The stand-in ``nextflow`` of this folder answers
nf-core's ``nextflow -v`` and ``nextflow config`` calls; NXF_OFFLINE makes the pipeline include no remote
config, and NXF_HOME points nowhere so that nf-core caches no config between runs.

Usage: python nfcore_lint.py NF_CORE_EXECUTABLE [PIPELINE_DIR] [--json REPORT.json]
Exit status: nf-core's (1 when any lint test failed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def clone_files(root: Path, dest: Path) -> None:
    """Copy the files ``git ls-files --cached --others --exclude-standard`` lists from ``root`` to ``dest``."""
    names = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=root,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, names):
        src = root / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def lint(nf_core: str, root: Path, report: Path | None = None) -> int:
    with tempfile.TemporaryDirectory(prefix="nfcore-lint-") as scratch:
        copy = Path(scratch) / root.resolve().name
        copy.mkdir()
        clone_files(root, copy)
        env = dict(os.environ, PATH=f"{HERE}{os.pathsep}{os.environ.get('PATH', '')}", NXF_OFFLINE="true",
                   NXF_HOME=str(Path(scratch) / "no-nxf-home"), HOME=str(Path(scratch) / "home"))
        cmd = [nf_core, "pipelines", "lint", "--dir", str(copy), "--plain-text"]
        if report is not None:
            cmd += ["--json", str(report.resolve())]
        return subprocess.run(cmd, env=env, check=False).returncode


def main(argv: list[str]) -> int:
    report = None
    if "--json" in argv:
        i = argv.index("--json")
        report = Path(argv[i + 1])
        argv = argv[:i] + argv[i + 2 :]
    nf_core = argv[0]
    root = Path(argv[1]) if len(argv) > 1 else Path.cwd()
    return lint(nf_core, root, report)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
