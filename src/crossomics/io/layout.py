"""The output layout shared by `crossomics run`, the CLI steps and the Nextflow pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .samplesheet import sample_id_problem

SUBDIRS = (
    "qc",
    "preprocess",
    "priors",
    "model",
    "integration",
    "generation",
    "simulation",
    "perturbation",
    "metrics",
    "multiqc",
    "pipeline_info",
)


@dataclass(frozen=True)
class Layout:
    """Paths of every output under ``outdir``. Sample ids must be safe file names (checked on every use, so that
    no ``--sample`` value can name a file outside ``outdir``)."""

    outdir: Path

    def __init__(self, outdir: str | Path) -> None:
        object.__setattr__(self, "outdir", Path(outdir))

    def dir(self, name: str) -> Path:
        """The folder ``name`` (one of :data:`SUBDIRS`), created on demand."""
        if name not in SUBDIRS:
            msg = f"unknown output folder {name!r}"
            raise ValueError(msg)
        p = self.outdir / name
        p.mkdir(parents=True, exist_ok=True)
        return p

    def _sample(self, sample: str) -> str:
        """``sample`` when it is a safe file name; an :class:`InputError` (before anything is written) if not."""
        problem = sample_id_problem(sample)
        if problem:
            msg = f"{problem} Output files under {self.outdir} are named after the sample id."
            raise InputError(msg)
        return sample

    def _file(self, folder: str, sample: str, suffix: str) -> Path:
        name = self._sample(sample) + suffix  # checked before the folder is created
        return self.dir(folder) / name

    # qc / preprocess
    def qc_h5ad(self, sample: str) -> Path:
        return self._file("qc", sample, ".qc.h5ad")

    def qc_json(self, sample: str) -> Path:
        return self._file("qc", sample, ".qc.json")

    def preprocessed(self, sample: str) -> Path:
        return self._file("preprocess", sample, ".h5ad")

    # priors
    def gene_activity(self, sample: str) -> Path:
        return self._file("priors", sample, ".gene_activity.h5ad")

    def gene_sets(self, sample: str) -> Path:
        return self._file("priors", sample, ".genesets.h5ad")

    def anchors(self, sample_a: str, sample_b: str) -> Path:
        name = f"anchors_{self._sample(sample_a)}__{self._sample(sample_b)}.tsv"
        return self.dir("priors") / name

    # model / integration
    def model_dir(self) -> Path:
        return self.dir("model")

    def latent(self, sample: str) -> Path:
        return self._file("integration", sample, ".latent.h5ad")

    def mudata(self) -> Path:
        return self.dir("integration") / "crossomics.h5mu"

    # metrics / info
    def metrics(self, name: str) -> Path:
        return self.dir("metrics") / f"{name}.json"

    def versions(self) -> Path:
        return self.dir("pipeline_info") / "software_versions.yml"

    def params(self) -> Path:
        return self.dir("pipeline_info") / "params.json"
