"""Bad inputs across every command: exit code 2, a message naming the file/row/field and the fix, no
traceback, and an earlier output folder left exactly as it was (nothing written inside or outside it).

`tests/test_samplesheet.py` (18 bad sheets, 14 unsafe sample ids, 7 bad modality names, 3 unreadable sheets)
and `tests/test_validate.py` (14 bad files, 7 bad sheets, unreadable file, ATAC names, h5mu key, annotation)
cover parsing and `crossomics validate`. Here the same kinds of input, and those of the later steps, go
through `crossomics run` and the per-step commands, with a results folder from an earlier run in place.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
from _train_demo import copy_inputs, sheet_for
from conftest import assert_user_error
from scipy import sparse

N_CELLS = 40
EARLIER = {  # an earlier run's results: every command below must leave them untouched
    "qc/old.qc.json": '{"cells_out": 40}\n',
    "preprocess/old.h5ad": "earlier h5ad\n",
    "priors/anchors_old__older.tsv": "cell_a\tcell_b\tscore\n",
    "model/model.json": "{}\n",
    "integration/old.latent.h5ad": "earlier latent\n",
    "generation/old.h5ad": "earlier generation\n",
    "simulation/old.h5ad": "earlier simulation\n",
    "perturbation/summary.tsv": "gene\tscore\n",
    "metrics/integration.json": "{}\n",
    "multiqc/multiqc_report.html": "<html></html>\n",
    "pipeline_info/params.json": "{}\n",
}


@pytest.fixture(scope="module")
def small(demo_data) -> dict[str, ad.AnnData]:
    """The demo's RNA and ATAC samples cut to N_CELLS cells (raw counts, CSR)."""
    return {m: ad.read_h5ad(demo_data / f"{m}_a.h5ad")[:N_CELLS].copy() for m in ("rna", "atac")}


@dataclass
class Env:
    """Inputs under ``root/in``, an earlier run's results under ``root/results``, and the demo's run."""

    root: Path
    small: dict[str, ad.AnnData]
    demo_data: Path
    demo_run: Path
    unreadable: Path | None = None

    @property
    def inputs(self) -> Path:
        return self.root / "in"

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def model(self) -> Path:
        return self.demo_run / "model"

    def h5ad(self, name: str, adata: ad.AnnData | None = None, *, modality: str = "rna") -> Path:
        path = self.inputs / name
        (adata if adata is not None else self.small[modality]).write_h5ad(path)
        return path

    def changed(self, modality: str = "rna", *, values=None, obs_names=None, var_names=None, dense=False):
        a = self.small[modality].copy()
        a.X = a.X.astype(np.float32)
        if values is not None:
            a.X.data[3] = values
        if obs_names is not None:
            a.obs_names = obs_names
        if var_names is not None:
            a.var_names = var_names
        if dense:
            a.X = a.X.toarray()
        return a

    def text(self, name: str, content: str | bytes) -> Path:
        path = self.inputs / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    def sheet(
        self, rna: str = "rna.h5ad", atac: str = "atac.h5ad", *, rna_id: str = "rna1", extra: str = ""
    ) -> Path:
        header = "sample,modality,file" + (",genome" if extra else "")
        rows = [f'"{rna_id}",rna,"{rna}"{extra and ",mm10"}', f"atac1,atac,{atac}{extra and ',' + extra}"]
        return self.text("samplesheet.csv", "\n".join([header, *rows]) + "\n")

    def run(self, sheet: Path, *more: str) -> list:
        return [
            "run",
            "--input",
            sheet,
            "--outdir",
            self.results,
            "--device",
            "cpu",
            "--max-epochs",
            "1",
            *more,
        ]

    def model_copy(self, change: Callable[[Path, dict], None]) -> Path:
        model = self.inputs / "model"
        shutil.copytree(self.model, model)
        manifest = json.loads((model / "model.json").read_text())
        change(model, manifest)
        (model / "model.json").write_text(json.dumps(manifest))
        return model


@pytest.fixture
def env(tmp_path, small, demo_data, demo_run) -> Env:
    e = Env(tmp_path, small, demo_data, demo_run)
    e.inputs.mkdir()
    e.h5ad("rna.h5ad")
    e.h5ad("atac.h5ad", modality="atac")
    for rel, content in EARLIER.items():
        (e.results / rel).parent.mkdir(parents=True, exist_ok=True)
        (e.results / rel).write_text(content)
    return e


def snapshot(root: Path) -> dict[str, tuple[bool, int, int]]:
    """Every path under ``root`` with (is folder, size, modification time in ns)."""
    return {
        str(p.relative_to(root)): (p.is_dir(), p.stat().st_size if p.is_file() else 0, p.stat().st_mtime_ns)
        for p in [root, *root.rglob("*")]
    }


# Each case builds its inputs in ``env`` and returns (command line, needles of the expected message).
Case = Callable[[Env], tuple[list, list[str]]]
CASES: dict[str, Case] = {}


def case(name: str):
    def register(fn: Case) -> Case:
        CASES[name] = fn
        return fn

    return register


# --- samplesheets, through `crossomics run` -----------------------------------------------------------------


@case("sheet_empty")
def _(e):
    sheet = e.text("samplesheet.csv", "")
    return e.run(sheet), [str(sheet), "is empty", "Fix: start it with the header line 'sample,modality,file'"]


@case("sheet_header_only")
def _(e):
    sheet = e.text("samplesheet.csv", "\ufeffsample,modality,file\r\n")
    return e.run(sheet), [str(sheet), "has a header but no samples", "Fix: add one line per sample file"]


@case("sheet_bom_crlf_quoted_duplicate_ids")
def _(e):
    sheet = e.text(
        "samplesheet.csv",
        '\ufeff"sample","modality","file"\r\n"S1","rna","rna.h5ad"\r\n"s1","atac","atac.h5ad"\r\n',
    )
    return e.run(sheet), [
        str(sheet),
        "duplicate sample id in row 1 ('S1'), row 2 ('s1')",
        "Fix: give every row its own",
    ]


@case("sheet_trailing_commas_with_an_extra_value")
def _(e):
    sheet = e.text(
        "samplesheet.csv", "sample,modality,file,,\r\nrna1,rna,rna.h5ad,,\r\natac1,atac,atac.h5ad,,oops\r\n"
    )
    return e.run(sheet), [
        "row 2 (line 3): 5 fields but the header names 3 columns (extra: 'oops')",
        "Fix: remove the extra values, or quote values that contain commas",
    ]


@case("sheet_quoted_path_with_comma_missing")
def _(e):
    sheet = e.sheet(rna="my, data.h5ad")
    return e.run(sheet), [
        f"{sheet} row 1 (sample 'rna1'), column 'file'",
        f"{e.inputs / 'my, data.h5ad'} does not exist",
        "Fix: correct the path in the samplesheet",
    ]


for _name, _id, _shown in [
    ("sample_id_parent_path", "../escape", "'/'"),
    ("sample_id_dotdot", "..", "starts with '.' or contains '..'"),
    ("sample_id_space_and_shell", "a b;rm -rf x", "' ', ';'"),
    ("sample_id_command_substitution", "$(touch pwned)", "' ', '$', '(', ')'"),
]:

    @case(_name)
    def _(e, _id=_id, _shown=_shown):
        sheet = e.sheet(rna_id=_id)
        return e.run(sheet), [
            f"{sheet} row 1 (line 2), column 'sample'",
            _shown,
            "Fix: use only letters, digits",
        ]


# --- sample files, through `crossomics run` -----------------------------------------------------------------


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _file_case(name: str, make: Callable[[Env], Path], *needles: str) -> None:
    @case(name)
    def _(e):
        bad = make(e)
        sheet = e.sheet(rna=bad.name)
        return e.run(sheet), [
            f"{sheet}: 1 problem (nothing was run)",
            f"row 1 (sample 'rna1'), column 'file' ({bad})",
            *needles,
        ]


_file_case("file_missing", lambda e: e.inputs / "absent.h5ad", "does not exist", "Fix: correct the path")
_file_case(
    "file_zero_bytes", lambda e: e.text("zero.h5ad", b""), "is empty (0 bytes)", "Fix: re-export or re-copy"
)
_file_case(
    "file_truncated",
    lambda e: e.text("cut.h5ad", _half(e.h5ad("whole.h5ad").read_bytes())),
    "could not be read as h5ad",
    "Fix: check that it is a complete h5ad file",
)
_file_case(
    "file_not_hdf5",
    lambda e: e.text("table.h5ad", "gene,cell1\nXkr4,3\n"),
    "is not an HDF5 file",
    "Fix: re-copy the complete file, or convert it",
)
_file_case(
    "counts_nan",
    lambda e: e.h5ad("nan.h5ad", e.changed(values=np.nan)),
    "1 values are NaN or infinite",
    "never valid",
)
_file_case(
    "counts_inf",
    lambda e: e.h5ad("inf.h5ad", e.changed(values=np.inf)),
    "1 values are NaN or infinite (e.g. inf",
)
_file_case(
    "counts_negative",
    lambda e: e.h5ad("neg.h5ad", e.changed(values=-2)),
    "1 values are negative, not counts",
    "Fix: point file to the raw counts",
    "allow_non_counts=true",
)
_file_case(
    "counts_float",
    lambda e: e.h5ad("float.h5ad", e.changed(values=0.5)),
    "not whole numbers, not counts (normalised data?)",
    "allow_non_counts=true",
)
_file_case(
    "duplicate_cell_names",
    lambda e: e.h5ad("dupcells.h5ad", e.changed(obs_names=["c0", "c1"] * (N_CELLS // 2))),
    "duplicated cell barcodes ('c0', 'c1')",
    "Fix: make barcodes unique",
)
_file_case(
    "duplicate_feature_names",
    lambda e: e.h5ad("dupfeat.h5ad", e.changed(var_names=["Dup", *e.small["rna"].var_names[1:-1], "Dup"])),
    "1 duplicated feature names ('Dup')",
    "var_names_make_unique",
)
_file_case(
    "one_feature",
    lambda e: e.h5ad("one.h5ad", e.small["rna"][:, :1].copy()),
    "has a single feature",
    "Fix: check that file holds the full cells x features matrix",
)
_file_case(
    "zero_cells",
    lambda e: e.h5ad("none.h5ad", e.small["rna"][:0].copy()),
    "has zero cells (0 x",
    "Fix: point file to a non-empty matrix",
)


@case("file_unreadable")
def _(e):
    locked = e.unreadable = e.h5ad("locked.h5ad")
    sheet = e.sheet(rna=locked.name)
    return e.run(sheet), [
        f"row 1 (sample 'rna1'), column 'file' ({locked})",
        "permission denied",
        "chmod a+r",
    ]


# --- annotation, genomes and gene sets, through `crossomics run` ---------------------------------------------

GTF_CDS_ONLY = 'chr1\tsrc\tCDS\t100\t900\t.\t+\t0\tgene_id "g1"; gene_name "Xkr4";\n'


@case("peaks_on_unknown_contigs")
def _(e):
    atac = e.changed(
        "atac", var_names=[f"chrZZ_{i}:{i * 500}-{i * 500 + 300}" for i in range(e.small["atac"].n_vars)]
    )
    sheet = e.sheet(atac=e.h5ad("zz.h5ad", atac).name)
    gtf = e.demo_data / "genes.gtf"
    return e.run(sheet, "--annotation", gtf), [
        "row 2 (sample 'atac1'), column 'file'",
        f"lie on contigs absent from annotation {gtf} (e.g. 'chrZZ_0'",
        "Fix: pass the annotation of the data's species and genome build",
    ]


@case("genomes_mismatched")
def _(e):
    sheet = e.sheet(extra="hg38")
    return e.run(sheet), [
        f"{sheet} column 'genome'",
        "'mm10' in rows 1; 'hg38' in rows 2",
        "Fix: use one genome build",
    ]


@case("gtf_without_genes")
def _(e):
    gtf = e.text("cds_only.gtf", GTF_CDS_ONLY)
    return e.run(e.sheet(), "--annotation", gtf), [
        f"--annotation: annotation file {gtf} holds no gene records",
        "check that it is a gene annotation",
    ]


@case("gtf_wrong_columns")
def _(e):
    gtf = e.text("commas.gtf", "chr1,src,gene,100,900,.,+,.,gene_name Xkr4\n")
    return e.run(e.sheet(), "--annotation", gtf), [
        f"annotation file {gtf}: 1 tab-separated columns",
        "check the separator (tabs)",
    ]


@case("gmt_every_line_malformed")
def _(e):
    gmt = e.text("sets.gmt", "SET_A,desc,Xkr4,Rp1\nSET_B Xkr4 Rp1\n")
    return e.run(e.sheet(), "--gene-sets", gmt), [
        f"GMT file {gmt} holds no gene set",
        "name<TAB>description<TAB>genes",
    ]


# --- per-step commands ---------------------------------------------------------------------------------------


def _qc(e, path, sample="rna1", modality="rna", *more):
    return ["qc", "--input", path, "--sample", sample, "--modality", modality, "--outdir", e.results, *more]


@case("qc_zero_cells_after_qc")
def _(e):
    path = e.inputs / "rna.h5ad"
    return _qc(e, path, "rna1", "rna", "--min-counts", "1000000"), [
        f"{path}: sample 'rna1': QC removed every cell of this rna sample",
        f"min_counts=1000000 removed {N_CELLS} of {N_CELLS} cells",
        "The threshold min_counts removed the most; lower it (--min-counts)",
    ]


@case("qc_duplicate_barcodes")
def _(e):
    path = e.h5ad("dup.h5ad", e.changed(obs_names=["AAAC-1"] * N_CELLS))
    return _qc(e, path), [
        f"{path}: {N_CELLS - 1} duplicated cell barcodes ('AAAC-1')",
        "Fix: make barcodes unique",
    ]


@case("qc_sample_id_outside_outdir")
def _(e):
    return _qc(e, e.inputs / "rna.h5ad", "../../escaped"), [
        "sample id '../../escaped' contains '/'",
        "Fix: use only letters",
        "Output files under",
    ]


@case("qc_atac_names_not_peaks")
def _(e):
    path = e.inputs / "rna.h5ad"
    return _qc(e, path, "atac1", "atac"), [
        f"{path}: 1,200 of 1,200 ATAC feature names are not peaks",
        "Fix: name peaks 'chr1:100-200'",
    ]


@case("qc_nan_counts")
def _(e):
    path = e.h5ad("nan.h5ad", e.changed(values=np.nan))
    return _qc(e, path), [f"{path}: 1 values are NaN or infinite", "never valid"]


@case("preprocess_one_feature")
def _(e):
    path = e.h5ad("one.h5ad", e.small["rna"][:, :1].copy())
    return ["preprocess", "--input", path, "--sample", "rna1", "--modality", "rna", "--outdir", e.results], [
        f"{path}: the matrix has a single feature",
        "Fix: check that file holds the full cells x features matrix",
    ]


@case("preprocess_sample_id_shell")
def _(e):
    cmd = [
        "preprocess",
        "--input",
        e.inputs / "rna.h5ad",
        "--sample",
        "x;touch y",
        "--modality",
        "rna",
        "--outdir",
        e.results,
    ]
    return cmd, ["sample id 'x;touch y' contains ' ', ';'", "(e.g. 'x_touch_y')"]


@case("gene_activity_peaks_on_unknown_contigs")
def _(e):
    path = e.h5ad(
        "zz.h5ad",
        e.changed(
            "atac", var_names=[f"chrZZ:{i * 500}-{i * 500 + 300}" for i in range(e.small["atac"].n_vars)]
        ),
    )
    gtf = e.demo_data / "genes.gtf"
    cmd = ["gene-activity", "--input", path, "--sample", "atac1", "--annotation", gtf, "--outdir", e.results]
    return cmd, [f"no peak of {path} overlaps a gene of {gtf}", "check that both use the same genome build"]


@case("gene_activity_bed_wrong_columns")
def _(e):
    bed = e.text("genes.bed", "chr1\t100\t900\n")
    cmd = [
        "gene-activity",
        "--input",
        e.inputs / "atac.h5ad",
        "--sample",
        "atac1",
        "--annotation",
        bed,
        "--outdir",
        e.results,
    ]
    return cmd, [
        f"annotation file {bed}: 3 tab-separated columns, a BED6 file needs at least 6",
        "check the separator",
    ]


@case("gene_sets_gmt_binary")
def _(e):
    gmt = e.text("sets.gmt", b"\x89HDF\r\n\x1a\n\x00\xff")
    cmd = [
        "gene-sets",
        "--input",
        e.inputs / "rna.h5ad",
        "--sample",
        "rna1",
        "--gmt",
        gmt,
        "--outdir",
        e.results,
    ]
    return cmd, [f"GMT file {gmt} is not a text GMT file", "unpack it or pass the .gmt itself"]


@case("anchors_sample_id_with_slash")
def _(e):
    rna = e.inputs / "rna.h5ad"
    cmd = [
        "anchors",
        "--input-a",
        rna,
        "--sample-a",
        "a",
        "--modality-a",
        "rna",
        "--input-b",
        rna,
        "--sample-b",
        "b/../../x",
    ]
    return [*cmd, "--modality-b", "rna", "--outdir", e.results], [
        "sample id 'b/../../x' contains '/'",
        "Output files under",
    ]


# --- model folders and new data for a trained model ----------------------------------------------------------


def _embed(e, model, path, modality="rna_a"):
    return [
        "embed",
        "--model",
        model,
        "--input",
        path,
        "--sample",
        "new",
        "--modality",
        modality,
        "--outdir",
        e.results,
        "--device",
        "cpu",
    ]


@case("model_incompatible_version")
def _(e):
    model = e.model_copy(lambda m, man: man.update(format_version=99, crossomics_version="9.0"))
    return _embed(e, model, e.inputs / "rna.h5ad"), [
        f"{model / 'model.json'}: model format 99 (crossomics 9.0) cannot be read by crossomics",
        "Retrain the model with this version",
    ]


@case("model_manifest_without_checksums")
def _(e):
    model = e.model_copy(lambda m, man: man.pop("sha256"))
    return _embed(e, model, e.inputs / "rna.h5ad"), [
        f"{model / 'model.json'}: lacks sha256",
        "Refusing to load it: retrain",
    ]


@case("model_weights_changed")
def _(e):
    model = e.model_copy(
        lambda m, man: (m / "weights.pt").write_bytes((m / "weights.pt").read_bytes() + b"x")
    )
    cmd = [
        "generate",
        "--model",
        model,
        "--input",
        e.inputs / "rna.h5ad",
        "--source",
        "rna_a",
        "--target",
        "atac_a",
    ]
    return [*cmd, "--out", e.results / "generation" / "new.h5ad", "--device", "cpu"], [
        f"{model / 'weights.pt'}: SHA-256 does not match the one recorded in model.json",
        "Refusing to load it",
    ]


@case("model_weights_missing")
def _(e):
    model = e.model_copy(lambda m, man: (m / "weights.pt").unlink())
    cmd = [
        "simulate",
        "--model",
        model,
        "--n-cells",
        "5",
        "--out",
        e.results / "simulation",
        "--device",
        "cpu",
    ]
    return cmd, [f"{model}: weights.pt is missing from the model folder", "Copy the whole folder, or retrain"]


@case("embed_not_hdf5")
def _(e):
    path = e.text("cells.h5ad", "barcode,Xkr4\nAAAC,1\n")
    return _embed(e, e.model, path), [f"{path} is not an HDF5 file", "Fix: re-copy the complete file"]


@case("embed_duplicate_feature_names")
def _(e):
    names = list(e.small["rna"].var_names)
    path = e.h5ad("dup.h5ad", e.changed(var_names=[names[1], *names[1:]]))
    return _embed(e, e.model, path), [
        f"{path}: rna_a input: duplicated feature names",
        "var_names_make_unique",
    ]


@case("embed_nan_counts")
def _(e):
    path = e.h5ad("nan.h5ad", e.changed(values=np.nan))
    return _embed(e, e.model, path), [
        f"{path}: rna_a input: 1 values are NaN or infinite",
        "Fix: give the measured raw counts",
    ]


@case("perturb_gene_list_with_unknown_genes")
def _(e):
    manifest = json.loads((e.model / "model.json").read_text())
    known = next(d for d in manifest["domains"] if d["name"] == "rna_a")["preprocess"]["features"][0]
    genes = e.text("genes.txt", f"# genes to knock out\nNOTAGENE\n{known.upper()}\n")
    cmd = [
        "perturb",
        "--model",
        e.model,
        "--input",
        e.inputs / "rna.h5ad",
        "--modality",
        "rna_a",
        "--gene-list",
        genes,
    ]
    return [*cmd, "--out", e.results / "perturbation", "--device", "cpu"], [
        "2 gene(s) cannot be perturbed; correct or remove them",
        "NOTAGENE: unknown gene",
        f"{known.upper()}: unknown gene; did you mean {known}",
    ]


@case("perturb_merge_damaged_chunk_meta")
def _(e):
    chunk = e.inputs / "chunk_1"
    chunk.mkdir()
    (chunk / "meta.chunk1of2.json").write_text('{"genes": ["Xkr4"')
    return ["perturb-merge", "--inputs", chunk, "--out", e.results / "perturbation"], [
        f"{chunk / 'meta.chunk1of2.json'}: not valid JSON",
        "Fix: rerun chunk 1 of 2",
    ]


@case("train_resume_damaged_checkpoint")
def _(e):
    copy_inputs(e.demo_run, e.results)
    (e.results / "model" / "checkpoint.pt").write_bytes(b"PK\x03\x04 not a checkpoint")
    sheet = sheet_for(e.demo_data, e.inputs)
    return [
        "train",
        "--input",
        sheet,
        "--outdir",
        e.results,
        "--device",
        "cpu",
        "--resume",
        "--max-epochs",
        "1",
    ], [
        f"--resume: checkpoint {e.results / 'model' / 'checkpoint.pt'} cannot be restored",
        "Fix: delete it to train from scratch, or rerun without --resume",
    ]


@case("train_backed_damaged_preprocessed_file")
def _(e):
    copy_inputs(e.demo_run, e.results)
    damaged = e.results / "preprocess" / "atac_a.h5ad"
    damaged.write_bytes(_half(damaged.read_bytes()))
    sheet = sheet_for(e.demo_data, e.inputs)
    return ["train", "--input", sheet, "--outdir", e.results, "--device", "cpu", "--backed", "--max-epochs", "1"], [
        f"{damaged}: cannot be read as an .h5ad file",
        "Fix: rerun `crossomics preprocess` to rewrite it",
    ]


@case("report_multiqc_config_not_yaml")
def _(e):
    config = e.text("multiqc.yml", "title: [unclosed\n  - x: :\n")
    return ["report", "--outdir", e.results, "--multiqc-config", config], [
        f"--multiqc-config {config}: not valid YAML",
        "Fix: correct the file, or leave the option out",
    ]


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name, env, run_cli, monkeypatch):
    command, needles = CASES[name](env)
    if env.unreadable is not None:  # root reads any file: deny access where the reader asks
        real = os.access
        monkeypatch.setattr(
            "crossomics.io.read.os.access", lambda p, mode: Path(p) != env.unreadable and real(p, mode)
        )
    before, beside = snapshot(env.root), sorted(os.listdir(env.root.parent))
    result = run_cli(*command)
    assert_user_error(result, *needles)
    assert snapshot(env.root) == before, "the command changed files under its inputs or the earlier results"
    assert sorted(os.listdir(env.root.parent)) == beside, "the command wrote beside its folders"


def test_at_least_thirty_distinct_bad_inputs():
    assert len(CASES) >= 30


# --- dense input is not bad input --------------------------------------------------------------------------------


def test_dense_input_gives_the_same_qc_and_preprocessing_as_sparse(env, run_cli):
    dense = env.h5ad("dense.h5ad", env.changed(dense=True))
    assert not sparse.issparse(ad.read_h5ad(dense).X)
    sheet = env.sheet(rna="dense.h5ad")
    assert run_cli("validate", "--input", sheet).exit_code == 0
    out = {}
    for kind, path in (("dense", dense), ("sparse", env.inputs / "rna.h5ad")):
        result = run_cli(*_qc(env, path, kind))
        assert result.exit_code == 0, result.output
        qc = env.results / "qc" / f"{kind}.qc.h5ad"
        assert (
            run_cli(
                "preprocess",
                "--input",
                qc,
                "--sample",
                kind,
                "--modality",
                "rna",
                "--outdir",
                env.results,
                "--n-comps",
                "10",
            ).exit_code
            == 0
        )
        out[kind] = (ad.read_h5ad(qc), ad.read_h5ad(env.results / "preprocess" / f"{kind}.h5ad"))
    (qc_d, pre_d), (qc_s, pre_s) = out["dense"], out["sparse"]
    assert sparse.issparse(qc_d.X) and (qc_d.X != qc_s.X).nnz == 0
    np.testing.assert_allclose(pre_d.obsm["X_reduced"], pre_s.obsm["X_reduced"], atol=1e-5)
