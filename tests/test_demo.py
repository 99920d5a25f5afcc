"""The demo simulator: determinism, the files it writes, pairing, and a driver effect seen in the counts."""

from __future__ import annotations

import json
import time

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import invoke, knn_label_accuracy

from crossomics._keys import KEYS
from crossomics.datasets.synthetic import simulate_demo

SAMPLES = ("rna_a", "atac_a", "rna_b", "adt_b")
FILES = ("samplesheet.csv", "genes.gtf", "genesets.gmt", "demo_truth.json", *(f"{s}.h5ad" for s in SAMPLES))


@pytest.fixture(scope="module")
def demo_dirs(tmp_path_factory) -> dict[str, object]:
    """The demo written twice with seed 0 and once with seed 1 through the CLI; the first run is timed."""
    dirs = {name: tmp_path_factory.mktemp(name) for name in ("first", "second", "other")}
    start = time.perf_counter()
    result = invoke("simulate-demo", "--outdir", dirs["first"], "--seed", "0")
    elapsed = time.perf_counter() - start
    assert result.exit_code == 0, result.output
    for name, seed in (("second", 0), ("other", 1)):
        assert invoke("simulate-demo", "--outdir", dirs[name], "--seed", str(seed)).exit_code == 0
    return {**dirs, "seconds": elapsed}


@pytest.fixture(scope="module")
def demo(demo_dirs) -> dict[str, ad.AnnData]:
    return {s: ad.read_h5ad(demo_dirs["first"] / f"{s}.h5ad") for s in SAMPLES}


@pytest.fixture(scope="module")
def truth(demo_dirs) -> dict:
    return json.loads((demo_dirs["first"] / "demo_truth.json").read_text())


def test_fast_small_and_complete(demo_dirs):
    print(f"simulate-demo took {demo_dirs['seconds']:.2f} s")
    assert demo_dirs["seconds"] < 10
    assert {f for f in FILES if (demo_dirs["first"] / f).is_file()} == set(FILES)
    total = sum(p.stat().st_size for p in demo_dirs["first"].iterdir())
    assert total < 5 * 2**20


def test_same_seed_same_data_other_seed_differs(demo_dirs):
    first, second, other = (demo_dirs[k] for k in ("first", "second", "other"))
    for sample in SAMPLES:
        a, b, c = (ad.read_h5ad(d / f"{sample}.h5ad") for d in (first, second, other))
        assert (a.X != b.X).nnz == 0 and a.obs.equals(b.obs) and a.var.equals(b.var)
        assert a.X.shape != c.X.shape or (a.X != c.X).nnz > 0
    for name in ("samplesheet.csv", "genes.gtf", "genesets.gmt", "demo_truth.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    assert (first / "genes.gtf").read_bytes() != (other / "genes.gtf").read_bytes()


def test_samplesheet_points_at_paired_and_unpaired_samples(demo_dirs, demo):
    sheet = pd.read_csv(demo_dirs["first"] / "samplesheet.csv", keep_default_na=False)
    assert sheet.columns.tolist() == ["sample", "modality", "file", "batch", "condition"]
    assert sheet["sample"].tolist() == list(SAMPLES)
    assert sheet["modality"].tolist() == ["rna", "atac", "rna", "adt"]
    assert all(not f.startswith("/") and (demo_dirs["first"] / f).is_file() for f in sheet["file"])
    assert sheet["batch"].tolist() == ["b1", "b1", "b2", "b2"]
    assert (demo["rna_a"].obs_names == demo["atac_a"].obs_names).all()  # paired
    assert (demo["rna_b"].obs_names == demo["adt_b"].obs_names).all()
    assert not set(demo["rna_a"].obs_names) & set(demo["rna_b"].obs_names)  # unpaired with ATAC
    for adata in demo.values():
        assert sp.isspmatrix_csr(adata.X) and adata.X.dtype == np.int32
        assert adata.obs[KEYS.cell_type].nunique() == 5
        assert set(adata.obs[KEYS.condition]) == {"ctrl", "stim"}
    assert sum(a.n_obs for a in (demo["rna_a"], demo["rna_b"])) == 1200


def _gtf(path) -> pd.DataFrame:
    table = pd.read_csv(path, sep="\t", comment="#", header=None)
    table["gene_name"] = table[8].str.extract(r'gene_name "([^"]+)"', expand=False)
    table["gene_id"] = table[8].str.extract(r'gene_id "([^"]+)"', expand=False)
    return table.set_index("gene_name")


def test_gtf_and_peaks_describe_one_genome(demo_dirs, demo):
    gtf = _gtf(demo_dirs["first"] / "genes.gtf")
    rna = demo["rna_a"]
    assert set(gtf[2]) == {"gene"} and set(rna.var_names) == set(gtf.index)
    assert (rna.var["gene_id"] == gtf.loc[rna.var_names, "gene_id"]).all()
    assert sum(n.startswith("mt-") for n in rna.var_names) >= 5
    peaks = demo["atac_a"].var
    assert 2000 <= len(peaks) <= 5000 and set(peaks[KEYS.chrom]) <= set(gtf[0])
    assert (demo["atac_a"].X.data <= 2).mean() > 0.9  # mostly 0/1/2
    promoters = peaks[peaks["peak_type"] == "promoter"]
    genes = gtf.loc[promoters["peak_gene"].astype(str)]
    tss = np.where(genes[6] == "+", genes[3] - 1, genes[4] - 1)
    assert np.all(
        (promoters[KEYS.chrom_start].to_numpy() <= tss) & (tss < promoters[KEYS.chrom_end].to_numpy())
    )


def test_gene_sets_and_truth(demo_dirs, demo, truth):
    lines = (demo_dirs["first"] / "genesets.gmt").read_text().splitlines()
    sets = {fields[0]: fields[2:] for fields in (line.split("\t") for line in lines)}
    assert sets[f"DEMO_{truth['driver'].upper()}_TARGETS"] == truth["targets"]
    assert sum(name.startswith("DEMO_RANDOM") for name in sets) >= 3
    assert set().union(*sets.values()) <= set(demo["rna_a"].var_names)
    for adata in demo.values():
        stored = adata.uns[KEYS.demo_truth]
        assert stored["driver"] == truth["driver"] and list(stored["targets"]) == truth["targets"]
        assert list(stored["linked_peaks"]) == truth["linked_peaks"]
    assert truth["driver"] not in truth["targets"]
    assert set(truth["linked_peaks"]) <= set(demo["atac_a"].var_names) and len(truth["linked_peaks"]) >= 20
    assert set(truth["linked_proteins"]) <= set(demo["adt_b"].var_names)


def _log2_ratio(adata: ad.AnnData, features, *, per_10k: bool = True) -> float:
    """log2 of mean (normalised) level in stim over ctrl cells, pooled over ``features``."""
    x = adata.X.toarray().astype(np.float64)
    if per_10k:
        x = x / x.sum(axis=1, keepdims=True) * 1e4
    cols = adata.var_names.get_indexer(list(features))
    stim = (adata.obs[KEYS.condition] == "stim").to_numpy()
    return float(np.log2(x[stim][:, cols].mean() / x[~stim][:, cols].mean()))


@pytest.mark.parametrize("sample", ["rna_a", "rna_b"])
def test_driver_raises_targets_in_stim_cells(demo, truth, sample):
    rna = demo[sample]
    others = rna.var_names.difference([truth["driver"], *truth["targets"]])
    driver, targets = _log2_ratio(rna, [truth["driver"]]), _log2_ratio(rna, truth["targets"])
    background = _log2_ratio(rna, others)
    print(
        f"{sample}: log2 stim/ctrl driver {driver:.2f}, targets {targets:.2f}, other genes {background:.2f}"
    )
    assert driver > 1.5 and targets > 1.5 and abs(background) < 0.3
    # within ctrl cells too, targets follow the driver (co-regulation, not only a condition label)
    ctrl = rna[rna.obs[KEYS.condition] == "ctrl"]
    x = ctrl.X.toarray() / ctrl.X.sum(axis=1).A * 1e4
    driver_level = np.log1p(x[:, ctrl.var_names.get_loc(truth["driver"])])
    target_level = np.log1p(x[:, ctrl.var_names.get_indexer(truth["targets"])]).mean(axis=1)
    assert np.corrcoef(driver_level, target_level)[0, 1] > 0.2


def test_driver_opens_linked_peaks_and_raises_linked_proteins(demo, truth):
    atac, adt = demo["atac_a"], demo["adt_b"]
    linked = _log2_ratio(atac, truth["linked_peaks"])
    rest = _log2_ratio(atac, atac.var_names.difference(truth["linked_peaks"]))
    print(f"ATAC log2 stim/ctrl: linked peaks {linked:.2f}, other peaks {rest:.2f}")
    assert linked > 1.0 and abs(rest) < 0.2
    for protein in truth["linked_proteins"]:
        assert _log2_ratio(adt, [protein], per_10k=False) > 1.0


def test_simulated_cell_types_follow_marker_programs():
    demo = simulate_demo(n_cells=400, seed=7)
    rna = next(s.adata for s in demo.samples if s.sample == "rna_a")
    x = rna.X.toarray() / rna.X.sum(axis=1).A * 1e4
    for cell_type, markers in demo.truth["markers"].items():
        cols = rna.var_names.get_indexer(markers)
        inside = (rna.obs[KEYS.cell_type] == cell_type).to_numpy()
        assert x[inside][:, cols].mean() > 2 * x[~inside][:, cols].mean(), cell_type


def test_demo_goes_through_qc_and_preprocess(demo_dirs, tmp_path, run_cli):
    data = demo_dirs["first"]
    sheet = pd.read_csv(data / "samplesheet.csv", keep_default_na=False)
    for row in sheet.itertuples(index=False):
        common = ["--sample", row.sample, "--modality", row.modality, "--outdir", tmp_path]
        annotation = ["--annotation", data / "genes.gtf"] if row.modality == "atac" else []
        result = run_cli("qc", "--input", data / row.file, *common, *annotation)
        assert result.exit_code == 0, result.output
        result = run_cli("preprocess", "--input", tmp_path / "qc" / f"{row.sample}.qc.h5ad", *common)
        assert result.exit_code == 0, result.output
        adata = ad.read_h5ad(tmp_path / "preprocess" / f"{row.sample}.h5ad")
        accuracy = knn_label_accuracy(adata.obsm[KEYS.reduced], adata.obs[KEYS.cell_type])
        print(f"demo {row.sample}: 15-NN cell-type accuracy {accuracy:.3f}")
        assert accuracy > 0.7
    record = json.loads((tmp_path / "qc" / "atac_a.qc.json").read_text())
    assert record["median_frac_promoter_before"] > 0.3  # promoter peaks carry much of the signal
    assert json.loads((tmp_path / "qc" / "rna_a.qc.json").read_text())["median_pct_mito_before"] > 1
