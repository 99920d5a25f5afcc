"""The output layout shared by `crossomics run`, the CLI steps and the Nextflow pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
    """Paths of every output under ``outdir``. Sample ids are validated upstream (safe file names)."""

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

    # qc / preprocess
    def qc_h5ad(self, sample: str) -> Path:
        return self.dir("qc") / f"{sample}.qc.h5ad"

    def qc_json(self, sample: str) -> Path:
        return self.dir("qc") / f"{sample}.qc.json"

    def preprocessed(self, sample: str) -> Path:
        return self.dir("preprocess") / f"{sample}.h5ad"

    # priors
    def gene_activity(self, sample: str) -> Path:
        return self.dir("priors") / f"{sample}.gene_activity.h5ad"

    def gene_sets(self, sample: str) -> Path:
        return self.dir("priors") / f"{sample}.genesets.h5ad"

    def anchors(self, sample_a: str, sample_b: str) -> Path:
        return self.dir("priors") / f"anchors_{sample_a}__{sample_b}.tsv"

    # model / integration
    def model_dir(self) -> Path:
        return self.dir("model")

    def latent(self, sample: str) -> Path:
        return self.dir("integration") / f"{sample}.latent.h5ad"

    def mudata(self) -> Path:
        return self.dir("integration") / "crossomics.h5mu"

    # metrics / info
    def metrics(self, name: str) -> Path:
        return self.dir("metrics") / f"{name}.json"

    def versions(self) -> Path:
        return self.dir("pipeline_info") / "software_versions.yml"

    def params(self) -> Path:
        return self.dir("pipeline_info") / "params.json"
