"""Cross-modal generation and augmentation on a small trained demo model: contract, fidelity, bad input."""

from __future__ import annotations

import json
import shutil

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from _generation_model import demo_model
from conftest import assert_user_error, invoke

from crossomics._keys import KEYS
from crossomics.errors import InputError
from crossomics.metrics.generation import gene_cell_correlation, log_normalise
from crossomics.model.inputs import select_counts
from crossomics.tl import augment, generate, load_model, run_generation_stage
from crossomics.tl.generate import read_rows, write_generated


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return demo_model(tmp_path_factory)


@pytest.fixture(scope="module")
def model(demo):
    return load_model(demo.model_dir, device="cpu")


def _real(demo, model, sample: str, cells) -> sp.csr_matrix:
    counts, _ = select_counts(demo.preprocessed(sample)[cells], model.domains[sample].features, source=sample)
    return counts


def test_rna_to_protein_tracks_the_real_protein(demo, model):
    rna = demo.preprocessed("rna_b")
    out = generate(model, rna, source="rna_b", target="adt")
    scores = gene_cell_correlation(out.X, _real(demo, model, "adt_b", rna.obs_names))
    print(scores)
    assert scores["gene_r"] > scores["gene_r_shuffled"] + 0.15
    assert scores["cell_r"] > scores["cell_r_shuffled"] + 0.03


def test_output_contract(demo, model):
    atac = demo.preprocessed("atac_a")
    out = generate(model, atac, source="atac_a", target="rna_a", model_path=demo.model_dir)
    assert out.obs_names.equals(atac.obs_names)
    assert out.obs[KEYS.cell_type].equals(atac.obs[KEYS.cell_type])
    assert list(out.var_names) == model.domains["rna_a"].features
    assert isinstance(out.X, np.ndarray) and out.X.dtype == np.float32 and (out.X >= 0).all()
    assert np.allclose(
        out.X.sum(1), model.domains["rna_a"].library_median, rtol=1e-3
    )  # NB means at the median
    assert out.obsm[KEYS.latent].shape == (atac.n_obs, model.arch.n_joint)
    info = out.uns[KEYS.generate]
    assert (info["source_sample"], info["target_sample"], info["target_modality"]) == (
        "atac_a",
        "rna_a",
        "rna",
    )
    assert info["n_missing"] == 0 and info["model"] == str(demo.model_dir) and info["version"]
    peaks = generate(model, demo.preprocessed("rna_a"), source="rna", target="atac").X
    assert peaks.min() >= 0 and peaks.max() <= 1  # probabilities


def test_batches_do_not_change_the_result(demo, model):
    rna = demo.preprocessed("rna_b")
    whole = generate(model, rna, source="rna_b", target="adt_b", batch_size=4096).X
    assert np.allclose(generate(model, rna, source="rna_b", target="adt_b", batch_size=7).X, whole, atol=1e-5)


def test_new_cells_with_missing_features_through_the_cli(demo, model, tmp_path):
    raw = ad.read_h5ad(demo.data / "rna_b.h5ad")  # raw counts, cells never preprocessed with this subset
    keep = raw.var_names[~raw.var_names.isin(model.domains["rna_b"].preprocess["features"][:40])]
    new = raw[:150, keep].copy()
    new.obs_names = [f"query-{i}" for i in range(new.n_obs)]
    path = tmp_path / "query.h5ad"
    new.write_h5ad(path)
    out_path = tmp_path / "gen.h5ad"
    result = invoke(
        "generate",
        "--model",
        demo.model_dir,
        "--input",
        path,
        "--source",
        "rna_b",
        "--target",
        "adt",
        "--out",
        out_path,
        "--device",
        "cpu",
        "--batch-size",
        64,
    )
    assert result.exit_code == 0, result.output
    assert "40/" in result.output and "missing" in result.output
    out = ad.read_h5ad(out_path)
    assert out.obs_names.equals(new.obs_names) and out.uns[KEYS.generate]["n_missing"] == 40
    truth = ad.read_h5ad(demo.data / "adt_b.h5ad")[raw.obs_names[:150]]  # the same cells' protein
    real, _ = select_counts(truth, list(out.var_names), source="adt")
    scores = gene_cell_correlation(out.X, real)
    assert scores["gene_r"] > scores["gene_r_shuffled"] + 0.1


def test_generation_stage_writes_pairs_and_fidelity(demo, monkeypatch):
    import importlib

    # crossomics.tl re-exports a function named generate, so the module is looked up by name
    generate_module = importlib.import_module("crossomics.tl.generate")

    def no_encoding(*args, **kwargs):
        raise AssertionError("the stage encoded training cells again instead of reading integration/")

    with monkeypatch.context() as m:
        m.setattr(generate_module, "embed", no_encoding)
        metrics = run_generation_stage(demo.layout, demo.rows, device="cpu")
    pairs = {"rna_a_to_atac", "atac_a_to_rna", "rna_b_to_adt", "adt_b_to_rna"}
    assert set(metrics) == pairs
    assert {p.stem for p in (demo.layout.outdir / "generation").glob("*.h5ad")} == pairs
    written = json.loads(demo.layout.metrics("generation").read_text())
    assert set(written) >= pairs
    protein = written["rna_b_to_adt"]
    assert protein["n_paired_cells"] == 300 and protein["gene_r"] > protein["gene_r_shuffled"] + 0.15
    peaks = written["rna_a_to_atac"]
    assert 0.5 < peaks["auroc"] <= 1 and "auroc_peak_frequency" in peaks
    assert set(peaks["marker_overlap_per_type"]) == set(
        demo.preprocessed("atac_a").obs[KEYS.cell_type].astype(str)
    )
    # the stage decodes the training latents it finds in integration/: the same values as encoding the cells
    model = load_model(demo.model_dir, device="cpu")
    atac = demo.preprocessed("atac_a")
    again = generate(model, atac, source="atac_a", target="rna")
    written = read_rows(demo.layout.outdir / "generation" / "atac_a_to_rna.h5ad", np.arange(atac.n_obs))
    np.testing.assert_allclose(written, again.X, rtol=1e-4, atol=1e-6)


def test_augment_tops_up_rare_types_with_cells_that_look_like_them(demo, tmp_path):
    adt = ad.read_h5ad(demo.data / "adt_b.h5ad")
    counts = adt.obs[KEYS.cell_type].value_counts()
    rare = counts.index[-1]
    min_cells = int(counts.iloc[0]) + 40  # every type is topped up
    out_path = tmp_path / "aug.h5ad"
    result = invoke(
        "augment",
        "--model",
        demo.model_dir,
        "--input",
        demo.data / "adt_b.h5ad",
        "--modality",
        "adt",
        "--min-cells",
        min_cells,
        "--out",
        out_path,
        "--device",
        "cpu",
        "--seed",
        3,
    )
    assert result.exit_code == 0, result.output
    out = ad.read_h5ad(out_path)
    after = out.obs[KEYS.cell_type].value_counts()
    assert (after[counts.index] == min_cells).all()
    real = out[~out.obs[KEYS.synthetic].astype(bool)]
    synth = out[out.obs[KEYS.synthetic].astype(bool)]
    assert real.obs_names.equals(adt.obs_names) and synth.n_obs == (min_cells - counts).sum()
    assert np.array_equal(real.X.toarray(), adt[:, out.var_names].X.toarray())
    assert np.allclose(synth.X.data, np.round(synth.X.data))
    # synthetic points lie among the real cells of their own type in the joint space ...
    z_real, z_syn = real.obsm[KEYS.latent], synth.obsm[KEYS.latent]
    types = np.asarray(sorted(counts.index))
    centroids = np.vstack([z_real[(real.obs[KEYS.cell_type] == t).to_numpy()].mean(0) for t in types])
    nearest = types[((z_syn[:, None, :] - centroids[None]) ** 2).sum(-1).argmin(1)]
    assert (nearest == synth.obs[KEYS.cell_type].astype(str).to_numpy()).mean() > 0.9
    # ... and their counts look like that type's (B cells: a type the 5-epoch decoder already separates)
    profile = {t: log_normalise(real[real.obs[KEYS.cell_type] == t].X).mean(0) for t in types}
    syn_b = log_normalise(synth[synth.obs[KEYS.cell_type] == "B"].X).mean(0)
    r = {t: np.corrcoef(syn_b, profile[t])[0, 1] for t in types}
    assert max(r, key=r.get) == "B", r
    assert out.uns[KEYS.augment]["cells_added"][rare] == min_cells - counts[rare]
    unchanged = augment(
        load_model(demo.model_dir, device="cpu"), adt, modality="adt", min_cells=int(counts.min())
    )
    assert unchanged.n_obs == adt.n_obs and not unchanged.obs[KEYS.synthetic].any()


def test_a_given_latent_of_the_wrong_shape_is_refused(demo, model, tmp_path):
    atac = demo.preprocessed("atac_a")
    wrong = np.zeros((atac.n_obs - 1, model.arch.n_joint), np.float32)
    with pytest.raises(InputError, match=r"a latent of shape \(\d+, \d+\); expected \(\d+, \d+\)"):
        write_generated(model, atac, tmp_path / "x.h5ad", source="atac_a", target="rna", latent=wrong)
    assert not list(tmp_path.iterdir())


def test_too_little_disk_space_is_refused_before_writing(demo, tmp_path, monkeypatch):
    import crossomics.io.write as write_module

    real = shutil.disk_usage

    def full_disk(path):
        usage = real(path)
        return usage._replace(free=1000)  # far less than 300 cells x the model's genes x 4 bytes

    monkeypatch.setattr(write_module.shutil, "disk_usage", full_disk)
    out = tmp_path / "x.h5ad"
    result = invoke(
        "generate", "--model", demo.model_dir, "--input", demo.data / "rna_b.h5ad", "--source", "rna",
        "--target", "adt", "--out", out, "--device", "cpu",
    )  # fmt: skip
    assert_user_error(result, "needs about", "GiB free", str(tmp_path))
    assert not list(tmp_path.iterdir())  # nothing written, not even a temporary file


def test_bad_input_is_a_clear_error(demo, tmp_path):
    pre = demo.data / "rna_b.h5ad"
    common = ("--source", "rna", "--out", tmp_path / "x.h5ad", "--device", "cpu")
    assert_user_error(
        invoke("generate", "--model", demo.model_dir, "--input", pre, "--target", "methylation", *common),
        "no sample or modality named 'methylation'",
        "adt_b (adt)",
    )
    assert_user_error(
        invoke("generate", "--model", tmp_path / "nope", "--input", pre, "--target", "adt", *common),
        "model folder not found",
    )
    foreign = ad.read_h5ad(pre)
    foreign.var_names = [f"X{i}" if i % 3 else g for i, g in enumerate(foreign.var_names)]
    foreign.write_h5ad(tmp_path / "foreign.h5ad")
    assert_user_error(
        invoke(
            "generate",
            "--model",
            demo.model_dir,
            "--input",
            tmp_path / "foreign.h5ad",
            "--target",
            "adt",
            *common,
        ),
        "of the model's",
        "features",
        "at least 50%",
    )
    lognorm = ad.read_h5ad(pre)
    lognorm.X = sp.csr_matrix(np.log1p(lognorm.X.toarray()).astype(np.float32))
    lognorm.write_h5ad(tmp_path / "lognorm.h5ad")
    assert_user_error(
        invoke(
            "generate",
            "--model",
            demo.model_dir,
            "--input",
            tmp_path / "lognorm.h5ad",
            "--target",
            "adt",
            *common,
        ),
        "non-integer",
        "raw counts",
    )
    old = tmp_path / "old_model"
    shutil.copytree(demo.model_dir, old)
    manifest = json.loads((old / "model.json").read_text())
    (old / "model.json").write_text(json.dumps({**manifest, "format_version": 0}))
    assert_user_error(
        invoke("generate", "--model", old, "--input", pre, "--target", "adt", *common), "format 0", "retrain"
    )
    unlabelled = ad.read_h5ad(pre)
    del unlabelled.obs[KEYS.cell_type]
    unlabelled.write_h5ad(tmp_path / "unlabelled.h5ad")
    assert_user_error(
        invoke(
            "augment",
            "--model",
            demo.model_dir,
            "--input",
            tmp_path / "unlabelled.h5ad",
            "--modality",
            "rna",
            "--min-cells",
            10,
            "--out",
            tmp_path / "a.h5ad",
        ),
        "cell_type",
    )


def test_no_cells_is_an_error(demo, model):
    with pytest.raises(InputError, match="has no cells"):
        generate(model, demo.preprocessed("rna_b")[:0], source="rna", target="adt")


def test_generate_writes_batches_without_holding_the_whole_matrix(demo, model, tmp_path, monkeypatch):
    """`crossomics generate` to peaks: the file holds what generate() returns, and while decoding, numpy holds
    well under the dense cells x peaks matrix (one batch of cells is decoded and written at a time)."""
    import tracemalloc

    from crossomics.model import CrossModel
    from crossomics.tl.stages import run_generate

    pre = demo.preprocessed("rna_a")
    rna = ad.AnnData(
        sp.csr_matrix(pre.layers[KEYS.counts], dtype=np.float32), obs=pre.obs[[]], var=pre.var[[]]
    )
    rna = ad.concat([rna] * 8, index_unique="-")  # enough cells that the output dwarfs the input
    source = tmp_path / "rna.h5ad"
    rna.write_h5ad(source)
    expected = generate(model, rna, source="rna", target="atac").X
    held: list[int] = []  # numpy memory traced while each batch is decoded
    real_decode = CrossModel.decode

    def decode(self, *args, **kwargs):
        held.append(tracemalloc.get_traced_memory()[0])
        return real_decode(self, *args, **kwargs)

    monkeypatch.setattr(CrossModel, "decode", decode)
    out = tmp_path / "peaks.h5ad"
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        run_generate(demo.model_dir, source, out, source="rna", target="atac", device="cpu", batch_size=64)
    finally:
        tracemalloc.stop()
    written = ad.read_h5ad(out)
    assert written.X.dtype == np.float32 and written.obs_names.equals(rna.obs_names)
    np.testing.assert_allclose(written.X, expected, atol=1e-6)
    assert written.uns[KEYS.generate]["target_modality"] == "atac" and KEYS.latent in written.obsm
    most = max(held) - before
    assert len(held) == -(-rna.n_obs // 64) and most < expected.nbytes / 2, (
        f"{most / 2**20:.1f} MiB held while decoding; the dense matrix is {expected.nbytes / 2**20:.1f} MiB"
    )
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_generation_pairs_decode_each_key_once_and_need_shared_cells(tmp_path, caplog):
    from crossomics.io.layout import Layout
    from crossomics.io.samplesheet import SampleRow
    from crossomics.tl.stages import MIN_PAIRED_CELLS, _generation_pairs

    def cells(names) -> ad.AnnData:
        return ad.AnnData(obs=pd.DataFrame(index=list(names)))

    paired = [f"c{i}" for i in range(MIN_PAIRED_CELLS)]
    cache = {
        "rna_a": cells(paired),
        "atac_a": cells(paired),
        "atac_b": cells(paired[:-1] + ["other"]),  # one shared barcode short: not paired with rna_a
        "atac_c": cells(paired),  # same modality and cells as atac_a: its key was decoded already
    }
    rows = [SampleRow(s, s.split("_")[0], tmp_path / f"{s}.h5ad") for s in cache]
    with caplog.at_level("INFO"):
        pairs = _generation_pairs(Layout(tmp_path), rows, cache)
    assert [(a.sample, b.sample, key) for a, b, key, _ in pairs] == [
        ("rna_a", "atac_a", "rna_a_to_atac"),
        ("atac_a", "rna_a", "atac_a_to_rna"),
        ("atac_c", "rna_a", "atac_c_to_rna"),
    ]
    assert all(len(shared) == MIN_PAIRED_CELLS for *_, shared in pairs)
    assert "rna_a_to_atac: already decoded by another atac sample; atac_c skipped" in caplog.text
