"""Lay out what `bench/gpu.sh` needs beside the working tree on a device machine, which has CUDA torch but
no anndata/scanpy & co. and no package index: ``.whl/`` and ``.gpudata/`` (both git-ignored, both carried).

    .venv/bin/python bench/gpu_bundle.py [--data ../shared/data]

* ``.whl/``: Python 3.12 x86-64 wheels of the packages the device image lacks (:data:`BUNDLE`), each at the
  version this checkout's ``.venv`` holds, fetched from PyPI with ``pip download --no-deps``. Every
  requirement of every wheel (markers evaluated for Python 3.12 on Linux) must be in the bundle or in the
  device image (:data:`DEVICE_HAS`, from /work/.library/device/KINDS.md); otherwise this stops and names it.
* ``.gpudata/``: the SNARE-seq inputs ``bench/snare_integration.py --data`` reads, copied from ``--data``.

It stops if the two together exceed :data:`CARRY_LIMIT_MIB` (what one device call carries). Then, on the
device: ``RUNS=scale SCALE_THREADS=14 BUDGET=585 bash bench/gpu.sh $OUT`` with ``carry: [".whl",
".gpudata"]`` and ``timeout_s`` 600.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CARRY_LIMIT_MIB = 60  # one device call carries 64 MiB: the working tree travels too
# what crossomics needs that the device image lacks; pandas because anndata 0.12 needs pandas < 3
BUNDLE = (
    "anndata", "scanpy", "mudata", "umap-learn", "pynndescent", "leidenalg", "igraph", "texttable", "natsort",
    "legacy-api-wrap", "session-info2", "array-api-compat", "zarr", "numcodecs", "donfig", "google-crc32c",
    "scverse-misc", "pandas", "pytz", "tzdata",
)  # fmt: skip
# the device image's Python packages (KINDS.md, "Python packages already there"), as far as the bundle needs them
DEVICE_HAS = (
    "click", "h5py", "joblib", "matplotlib", "networkx", "numba", "llvmlite", "numpy", "packaging", "patsy",
    "python-dateutil", "pyyaml", "scikit-learn", "scipy", "seaborn", "statsmodels", "threadpoolctl", "tqdm",
    "typing-extensions", "six", "torch",
)  # fmt: skip
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
)
SNARE = (
    "snare_chen2019_mouse_cortex_rna.h5ad",
    "snare_chen2019_mouse_cortex_atac.h5ad",
    "annotation/mm10_genes.gtf",
    "genesets/mouse_msigdb_m2_cp_v2023.1.gmt",
)


def download_wheels(dest: Path) -> list[Path]:
    """One wheel per :data:`BUNDLE` name, at this environment's installed version, for CPython 3.12."""
    absent = [name for name in BUNDLE if not _installed(name)]
    if absent:
        sys.exit(
            f"gpu_bundle: {', '.join(absent)} not installed in {sys.executable}; run this with "
            ".venv/bin/python after `make install` (the wheels take its versions)"
        )
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir()
    pins = [f"{name}=={md.version(name)}" for name in BUNDLE]
    platform_args = [arg for p in PLATFORMS for arg in ("--platform", p)]
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version",
           "3.12", "--implementation", "cp", *platform_args, "-d", str(dest), *pins]  # fmt: skip
    subprocess.run(cmd, check=True)
    return sorted(dest.glob("*.whl"))


def _installed(name: str) -> bool:
    try:
        md.version(name)
    except md.PackageNotFoundError:
        return False
    return True


def unmet_requirements(wheels: list[Path]) -> list[str]:
    """Requirements of ``wheels`` (extras left out) that neither the bundle nor the device image provides."""
    env = {**default_environment(), "python_version": "3.12", "python_full_version": "3.12.3",
           "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64", "extra": ""}  # fmt: skip
    have = {canonicalize_name(n) for n in (*BUNDLE, *DEVICE_HAS)}
    unmet = []
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            meta = next(n for n in zf.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n))
            lines = zf.read(meta).decode().splitlines()
        for line in lines:
            if not line.startswith("Requires-Dist:"):
                continue
            req = Requirement(line.split(":", 1)[1].strip())
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            if canonicalize_name(req.name) not in have:
                unmet.append(f"{wheel.name} needs {req}")
    return unmet


def copy_inputs(data: Path, dest: Path) -> None:
    """The SNARE-seq files laid out as in ``data`` (snare_integration.py's ``--data``)."""
    shutil.rmtree(dest, ignore_errors=True)
    for rel in SNARE:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data / rel, dest / rel)


def mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA, help="folder laid out like ../shared/data")
    args = parser.parse_args()
    missing = [rel for rel in SNARE if not (args.data / rel).is_file()]
    if missing:
        sys.exit(f"gpu_bundle: {args.data} lacks {', '.join(missing)}; pass --data with the SNARE-seq inputs")
    wheels = download_wheels(ROOT / ".whl")
    unmet = unmet_requirements(wheels)
    if unmet:
        sys.exit("gpu_bundle: requirements neither bundled nor on the device:\n  " + "\n  ".join(unmet))
    copy_inputs(args.data, ROOT / ".gpudata")
    sizes = {name: mib(ROOT / name) for name in (".whl", ".gpudata")}
    print(f"{len(wheels)} wheels, " + ", ".join(f"{n}: {s:.1f} MiB" for n, s in sizes.items()))
    if sum(sizes.values()) > CARRY_LIMIT_MIB:
        sys.exit(
            f"gpu_bundle: {sum(sizes.values()):.1f} MiB is more than a device call carries ({CARRY_LIMIT_MIB})"
        )


if __name__ == "__main__":
    main()
