"""Matched simulation from the small trained demo model: files, proportions, prior storage, speed, realism."""

from __future__ import annotations

import json
import shutil
import time

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp
from _generation_model import demo_model
from conftest import assert_user_error, invoke

from crossomics._keys import KEYS
from crossomics.metrics.generation import simulation_realism
from crossomics.model.inputs import select_counts
from crossomics.tl import (
    fit_latent_prior,
    load_latent_prior,
    load_model,
    run_simulation_stage,
    save_latent_prior,
    simulate,
)
from crossomics.tl.latent_prior import read_latent_prior

SPEED_CELLS = 20_000
SPEED_CPU_SECONDS = 15.0  # so 100,000 cells of the demo's 3,700 features take at most 75 s of CPU


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return demo_model(tmp_path_factory)


@pytest.fixture(scope="module")
def model(demo):
    return load_model(demo.model_dir, device="cpu")


@pytest.fixture(scope="module")
def prior(demo, model):
    return load_latent_prior(model, demo.model_dir)  # fitted from integration/ beside the model


@pytest.fixture(scope="module")
def training_types(demo) -> dict[str, int]:
    """Cells per type over all samples the prior pools (each sample's preprocessed cells)."""
    labels = np.concatenate([demo.preprocessed(r.sample).obs[KEYS.cell_type].astype(str) for r in demo.rows])
    names, n = np.unique(labels, return_counts=True)
    return dict(zip(names, n.tolist(), strict=True))


def test_cli_writes_matched_count_files(demo, model, training_types, tmp_path):
    result = invoke(
        "simulate",
        "--model",
        demo.model_dir,
        "--n-cells",
        3000,
        "--out",
        tmp_path,
        "--seed",
        1,
        "--device",
        "cpu",
    )
    assert result.exit_code == 0, result.output
    assert "3000 cells in" in result.output and "cells/s" in result.output
    files = {p.stem: ad.read_h5ad(p) for p in tmp_path.glob("*.h5ad")}
    assert set(files) == {"rna", "atac", "adt"}
    rna = files["rna"]
    for adata in files.values():
        assert adata.obs_names.equals(rna.obs_names) and adata.n_obs == 3000
        assert adata.obs[KEYS.cell_type].equals(rna.obs[KEYS.cell_type])
        assert np.array_equal(adata.obsm[KEYS.latent], rna.obsm[KEYS.latent])  # same joint points
        assert sp.issparse(adata.X) and adata.X.dtype == np.int32 and adata.X.nnz > 0
        assert list(adata.var_names) == model.domains[adata.uns[KEYS.simulate]["sample"]].features
        assert adata.obs[KEYS.synthetic].all()
    assert files["atac"].X.max() == 1  # Bernoulli draws
    assert set(rna.obs[KEYS.condition]) == {"ctrl", "stim"}
    share = rna.obs[KEYS.cell_type].value_counts(normalize=True)
    expected = {t: n / sum(training_types.values()) for t, n in training_types.items()}
    assert all(abs(share[t] - f) < 0.005 for t, f in expected.items())  # largest-remainder allocation
    lib = rna.obs[KEYS.library].to_numpy()
    assert np.percentile(lib, 90) > 1.5 * np.percentile(lib, 10)  # library sizes vary like real cells'


def test_same_seed_same_cells_other_seed_other_cells(model, prior):
    a = simulate(model, prior, n_cells=500, seed=4, targets=["adt"])["adt"]
    b = simulate(model, prior, n_cells=500, seed=4, targets=["adt"])["adt"]
    c = simulate(model, prior, n_cells=500, seed=5, targets=["adt"])["adt"]
    assert (a.X != b.X).nnz == 0 and (a.X != c.X).nnz > 0
    both = simulate(model, prior, n_cells=500, seed=4, targets=["rna", "adt"])["adt"]
    assert (both.X != a.X).nnz == 0  # adding a modality does not change another's draws


def test_cell_types_proportions_condition(demo, model, prior, tmp_path):
    only = simulate(model, prior, n_cells=400, cell_types=["NK", "B"], targets=["adt"])["adt"]
    assert set(only.obs[KEYS.cell_type]) == {"NK", "B"}
    table = tmp_path / "props.csv"
    table.write_text("cell_type,proportion\nB,3\nMonocyte,1\n")
    out = tmp_path / "sim"
    result = invoke(
        "simulate",
        "--model",
        demo.model_dir,
        "--n-cells",
        400,
        "--proportions",
        table,
        "--condition",
        "stim",
        "--out",
        out,
        "--device",
        "cpu",
    )
    assert result.exit_code == 0, result.output
    adt = ad.read_h5ad(out / "adt.h5ad")
    assert adt.obs[KEYS.cell_type].value_counts().to_dict() == {"B": 300, "Monocyte": 100}
    assert set(adt.obs[KEYS.condition]) == {"stim"} and adt.uns[KEYS.simulate]["condition"] == "stim"


def _real_and_simulated(demo, model, prior, sample: str, dispersion: str):
    """A sample's real counts and labels, and as many cells simulated with its cell-type proportions."""
    real = demo.preprocessed(sample)
    counts, _ = select_counts(real, model.domains[sample].features, source=sample)
    labels = real.obs[KEYS.cell_type].astype(str).to_numpy()
    types, n = np.unique(labels, return_counts=True)
    sim = simulate(
        model,
        prior,
        n_cells=len(labels),
        proportions=dict(zip(types, n.tolist(), strict=True)),
        targets=[sample],
        seed=2,
        dispersion=dispersion,
    )[sample]
    return counts, labels, sim


def test_simulated_protein_is_realistic(demo, model, prior):
    counts, labels, sim = _real_and_simulated(demo, model, prior, "adt_b", "model")
    scores = simulation_realism(counts, labels, sim.X, sim.obs[KEYS.cell_type].to_numpy(), seed=0)
    print({k: round(v, 3) for k, v in scores.items() if isinstance(v, float)})
    assert scores["mean_r"] >= 0.9 and scores["var_r"] >= 0.85
    assert np.isnan(scores["zero_fraction_r"])  # no protein is ever zero in the real cells: r is undefined
    assert 0.5 <= scores["classifier_auc"] < 0.97 and set(scores["classifier_auc_per_type"]) == set(labels)


def test_calibrated_dispersion_gives_real_gene_variances(demo, model, prior):
    ratio = {}
    for dispersion in ("calibrated", "model"):
        counts, _, sim = _real_and_simulated(demo, model, prior, "rna_b", dispersion)
        real_var, sim_var = counts.toarray().var(0), sim.X.toarray().var(0)
        ok = (real_var > 0) & (sim_var > 0)
        ratio[dispersion] = float(np.median(np.abs(np.log(sim_var[ok] / real_var[ok]))))
    print("median |log variance ratio| simulated / real:", ratio)
    assert ratio["calibrated"] < 0.25 and ratio["calibrated"] <= ratio["model"] + 0.02


def test_prior_saved_in_the_model_folder_replaces_the_latents(demo, model, prior, tmp_path):
    alone = tmp_path / "model"
    shutil.copytree(demo.model_dir, alone)  # a model folder without integration/ beside it
    for name in ("latent_prior.json", "latent_prior.npz"):  # the train step stores the prior in model/
        (alone / name).unlink()
    result = invoke("simulate", "--model", alone, "--n-cells", 10, "--out", tmp_path / "x", "--device", "cpu")
    assert_user_error(result, "latent_prior.json", "integration")
    latents = {r.sample: ad.read_h5ad(demo.layout.latent(r.sample)) for r in demo.rows}
    adatas = {r.sample: demo.preprocessed(r.sample) for r in demo.rows}
    save_latent_prior(fit_latent_prior(model, latents, adatas), alone)
    stored = read_latent_prior(alone)
    assert stored.cell_types == prior.cell_types and stored.conditions == prior.conditions
    for a, b in zip(stored.chols + stored.means, prior.chols + prior.means, strict=True):
        assert np.allclose(a, b)
    assert set(stored.log_theta) == {"rna_a", "rna_b", "adt_b"} and set(stored.library_quantiles) == set(
        adatas
    )
    result = invoke("simulate", "--model", alone, "--n-cells", 50, "--out", tmp_path / "y", "--device", "cpu")
    assert result.exit_code == 0, result.output
    from_file = ad.read_h5ad(tmp_path / "y" / "adt.h5ad")
    assert (from_file.X != simulate(model, prior, n_cells=50, targets=["adt"])["adt"].X).nnz == 0
    manifest = json.loads((alone / "latent_prior.json").read_text())
    (alone / "latent_prior.json").write_text(json.dumps({**manifest, "weights_sha256": "0" * 64}))
    assert read_latent_prior(alone) is None  # a prior of other weights is not used


def test_many_cells_fast(model, prior):
    wall, cpu = time.perf_counter(), time.process_time()
    sims = simulate(model, prior, n_cells=SPEED_CELLS, seed=0)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    n_features = sum(a.n_vars for a in sims.values())
    print(f"simulated {SPEED_CELLS} cells x {n_features} features: {wall:.1f} s wall, {cpu:.1f} s CPU")
    assert cpu < SPEED_CPU_SECONDS  # CPU time: the shared test machine's load does not count
    assert all(a.n_obs == SPEED_CELLS for a in sims.values())


def test_simulation_stage_scores_realism(demo):
    result = run_simulation_stage(demo.layout, n_cells=600, seed=0, device="cpu")
    assert {p.name for p in (demo.layout.outdir / "simulation").glob("*.h5ad")} == {
        "rna.h5ad",
        "atac.h5ad",
        "adt.h5ad",
    }
    metrics = json.loads(demo.layout.metrics("generation").read_text())
    for name in ("rna", "atac", "adt"):
        entry = metrics[f"simulation_{name}"]
        assert entry["n_cells"] == 600 and 0.5 <= entry["classifier_auc"] <= 1 and entry["mean_r"] > 0.8
    assert result["metrics"]["simulation_adt"]["sample"] == "adt_b"


def test_bad_input_is_a_clear_error(demo, tmp_path):
    base = ("simulate", "--model", demo.model_dir, "--n-cells", 10, "--out", tmp_path, "--device", "cpu")
    assert_user_error(invoke(*base, "--cell-type", "NK cell"), "'NK cell'", "did you mean 'NK'", "knows: B")
    assert_user_error(invoke(*base, "--condition", "treated"), "condition 'treated'", "ctrl, stim")
    bad = tmp_path / "bad.csv"
    bad.write_text("type,share\nB,1\n")
    assert_user_error(invoke(*base, "--proportions", bad), "bad.csv", "cell_type and proportion")
    bad.write_text("cell_type,proportion\nB,-1\nNK,1\n")
    assert_user_error(invoke(*base, "--proportions", bad), "non-negative")
    bad.write_text("cell_type,proportion\nB,lots\n")
    assert_user_error(invoke(*base, "--proportions", bad), "row 2", "not a number")
    assert_user_error(invoke(*base, "--cell-type", "B", "--proportions", bad), "use one")


def test_read_cell_subset_reads_a_seeded_subset(tmp_path):
    import anndata as ad
    import numpy as np
    import scipy.sparse as sp

    from crossomics.io.read import read_cell_subset

    rng = np.random.default_rng(0)
    counts = sp.csr_matrix(rng.poisson(1.0, (120, 6)).astype(np.float32))
    adata = ad.AnnData(counts.copy(), layers={"counts": counts})
    adata.obs_names = [f"c{i}" for i in range(120)]
    adata.write_h5ad(tmp_path / "s.h5ad")
    assert read_cell_subset(tmp_path / "s.h5ad", 500).n_obs == 120
    part = read_cell_subset(tmp_path / "s.h5ad", 40, seed=3)
    rows = adata.obs_names.get_indexer(part.obs_names)
    assert part.n_obs == 40 and np.all(np.diff(rows) > 0)
    assert np.array_equal(part.layers["counts"].toarray(), counts[rows].toarray())
    assert list(part.obs_names) == list(read_cell_subset(tmp_path / "s.h5ad", 40, seed=3).obs_names)
