"""Faults: writes cut short, `crossomics run` killed (SIGKILL) or stopped (SIGTERM) in training, no GPU, GPU OOM;
the trainer's step cap and progress."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from conftest import assert_user_error

from crossomics.errors import InputError
from crossomics.io.write import TMP_MARK, write_h5ad, write_json
from crossomics.module.network import Architecture, CrossNetwork, DomainSpec
from crossomics.train import LossWeights, TrainConfig
from crossomics.train.batches import DomainData
from crossomics.train.trainer import Trainer

N_CELLS = 150  # per sample
EPOCHS = "12"  # per stage; the first checkpoint is written after pretraining epoch 5 (checkpoint_every)
RUN = [
    sys.executable,
    "-m",
    "crossomics.cli",
    "run",
    "--device",
    "cpu",
    "--seed",
    "0",
    "--max-epochs",
    EPOCHS,
]
ENV = {
    **os.environ,
    "OMP_NUM_THREADS": "1",
}  # one torch thread: several times faster on a busy 2-core machine


def _temps(root: Path) -> list[Path]:
    return sorted(root.rglob(f"*{TMP_MARK}*"))


# --- atomic writes ------------------------------------------------------------------------------------------


def test_write_interrupted_in_process_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch):
    final = tmp_path / "qc" / "s1.qc.h5ad"
    write_h5ad(ad.AnnData(sp.csr_matrix(np.ones((3, 2), np.float32))), final)
    before = final.read_bytes()

    def half_then_interrupt(self, path, *args, **kwargs):
        Path(path).write_bytes(before[: len(before) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(ad.AnnData, "write_h5ad", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_h5ad(ad.AnnData(sp.csr_matrix(np.zeros((5, 2), np.float32))), final)
    assert final.read_bytes() == before  # the complete earlier file, not the half-written one
    assert _temps(tmp_path) == []
    with pytest.raises(KeyboardInterrupt):
        write_h5ad(ad.AnnData(sp.csr_matrix(np.zeros((5, 2), np.float32))), tmp_path / "qc" / "new.qc.h5ad")
    assert not (tmp_path / "qc" / "new.qc.h5ad").exists() and _temps(tmp_path) == []


def test_write_killed_leaves_only_a_temp_that_the_next_run_removes(tmp_path, run_cli):
    outdir = tmp_path / "results"
    write_json({"cells_out": 10}, outdir / "qc" / "s1.qc.json")
    old = (outdir / "qc" / "s1.qc.json").read_text()
    script = textwrap.dedent(
        f"""
        import os, signal
        from crossomics.io.write import atomic_path
        for name in ("s1.qc.json", "s2.qc.json"):
            with atomic_path({str(outdir / "qc")!r} + "/" + name) as tmp:
                tmp.write_text('{{"cells_out": ')  # half of the JSON
                os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120, check=False)
    assert done.returncode == -signal.SIGKILL
    assert (outdir / "qc" / "s1.qc.json").read_text() == old  # never replaced by the half-written one
    assert not (outdir / "qc" / "s2.qc.json").exists()
    assert len(_temps(outdir)) == 1
    # the next `crossomics run` on the folder removes the stale temp first (here its samplesheet is bad)
    result = run_cli("run", "--input", tmp_path / "none.csv", "--outdir", outdir)
    assert_user_error(result, "none.csv does not exist")
    assert _temps(outdir) == [] and (outdir / "qc" / "s1.qc.json").read_text() == old


# --- crossomics run killed in training ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_sheet(demo_data, tmp_path_factory) -> Path:
    """RNA and ATAC samples of the demo cut to N_CELLS cells each."""
    root = tmp_path_factory.mktemp("tiny")
    for sample in ("rna_a", "atac_a"):
        ad.read_h5ad(demo_data / f"{sample}.h5ad")[:N_CELLS].copy().write_h5ad(root / f"{sample}.h5ad")
    sheet = root / "samplesheet.csv"
    sheet.write_text("sample,modality,file\nrna_a,rna,rna_a.h5ad\natac_a,atac,atac_a.h5ad\n")
    return sheet


def _run_cmd(sheet: Path, outdir: Path, *extra: str) -> list[str]:
    return [*RUN, "--input", str(sheet), "--outdir", str(outdir), "--n-sim-cells", "0", *extra]


@pytest.fixture(scope="module")
def uninterrupted(tiny_sheet, tmp_path_factory) -> Path:
    outdir = tmp_path_factory.mktemp("full") / "results"
    done = subprocess.run(
        _run_cmd(tiny_sheet, outdir), capture_output=True, text=True, timeout=900, env=ENV, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return outdir


def _start_and_signal_after_checkpoint(cmd: list[str], outdir: Path, sig: int) -> tuple[int, str]:
    """Start ``cmd``, send ``sig`` as soon as the first training checkpoint exists; return (exit code, stderr)."""
    checkpoint = outdir / "model" / "checkpoint.pt"
    log = outdir.parent / f"stderr-{sig}.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=ENV)
        deadline = time.time() + 600
        while not checkpoint.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        if proc.poll() is None:
            proc.send_signal(sig)
        proc.wait(timeout=600)
    return proc.returncode, log.read_text()


def _latent(outdir: Path, sample: str) -> np.ndarray:
    return ad.read_h5ad(outdir / "integration" / f"{sample}.latent.h5ad").obsm["X_crossomics"]


def test_run_killed_in_training_resumes_to_the_uninterrupted_latent(tiny_sheet, uninterrupted, tmp_path):
    outdir = tmp_path / "results"
    rc, _ = _start_and_signal_after_checkpoint(_run_cmd(tiny_sheet, outdir), outdir, signal.SIGKILL)
    assert rc == -signal.SIGKILL, "the run ended before the first checkpoint"
    assert not (outdir / "integration").exists() and not (outdir / "model" / "weights.pt").exists()
    state = torch.load(outdir / "model" / "checkpoint.pt", weights_only=True)
    assert (state["stage"], state["epoch"]) == ("pretrain", 5)

    done = subprocess.run(
        _run_cmd(tiny_sheet, outdir, "--resume"),
        capture_output=True,
        text=True,
        timeout=900,
        env=ENV,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resumed from" in done.stderr and "stage pretrain, epoch 5" in done.stderr
    for sample in ("rna_a", "atac_a"):
        np.testing.assert_allclose(_latent(outdir, sample), _latent(uninterrupted, sample), atol=1e-5, rtol=0)
    assert _temps(outdir) == []


def test_sigterm_in_training_stops_cleanly_after_a_checkpoint(tiny_sheet, tmp_path):
    outdir = tmp_path / "results"
    rc, stderr = _start_and_signal_after_checkpoint(_run_cmd(tiny_sheet, outdir), outdir, signal.SIGTERM)
    assert rc == 128 + signal.SIGTERM, f"exit {rc}:\n{stderr[-3000:]}"
    assert "Traceback" not in stderr
    assert "signal 15: stopping after this epoch's checkpoint" in stderr
    last = stderr.strip().splitlines()[-1]
    assert "SIGTERM" in last and str(outdir / "model" / "checkpoint.pt") in last and "--resume" in last
    state = torch.load(outdir / "model" / "checkpoint.pt", weights_only=True)
    assert state["stage"] == "pretrain" and state["epoch"] > 5  # the epoch under way was finished and saved
    assert len(state["history"]) == state["epoch"]
    assert not (outdir / "integration").exists() and _temps(outdir) == []


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_train_command_stopped_by_a_signal_exits_128_plus_it(
    demo_data, run_cli, monkeypatch, tmp_path, sig, code
):
    from crossomics.errors import StoppedBySignal

    checkpoint = tmp_path / "model" / "checkpoint.pt"

    def stopped(*args, **kwargs):
        raise StoppedBySignal(sig, checkpoint)

    monkeypatch.setattr("crossomics.model.train_step.run_train", stopped)
    result = run_cli(
        "train", "--input", demo_data / "samplesheet.csv", "--outdir", tmp_path, "--device", "cpu"
    )
    assert result.exit_code == code and "Traceback" not in result.output
    assert (
        f"Stopped by {signal.Signals(sig).name} after writing the training checkpoint {checkpoint}"
        in result.stderr
    )
    assert "--resume" in result.stderr


# --- devices -------------------------------------------------------------------------------------------------


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.mark.parametrize("command", ["train", "run", "embed", "generate", "perturb", "simulate"])
def test_device_cuda_without_a_gpu_is_a_clear_input_error(
    run_cli, demo_data, demo_run, no_gpu, tmp_path, command
):
    model, rna = demo_run / "model", demo_data / "rna_a.h5ad"
    args = {
        "train": ["--input", demo_data / "samplesheet.csv", "--outdir", tmp_path],
        "run": ["--input", demo_data / "samplesheet.csv", "--outdir", tmp_path],
        "embed": [
            "--model",
            model,
            "--input",
            rna,
            "--sample",
            "x",
            "--modality",
            "rna_a",
            "--outdir",
            tmp_path,
        ],
        "generate": [
            "--model",
            model,
            "--input",
            rna,
            "--source",
            "rna_a",
            "--target",
            "atac_a",
            "--out",
            tmp_path / "g.h5ad",
        ],
        "perturb": [
            "--model",
            model,
            "--input",
            rna,
            "--modality",
            "rna_a",
            "--genes",
            "x",
            "--out",
            tmp_path / "p",
        ],
        "simulate": ["--model", model, "--n-cells", "5", "--out", tmp_path / "s"],
    }[command]
    result = run_cli(command, *args, "--device", "cuda")
    assert_user_error(
        result,
        "--device cuda: no CUDA GPU is visible",
        "Use --device auto (falls back to the CPU) or --device cpu",
    )
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_device_auto_without_a_gpu_runs_on_the_cpu(run_cli, demo_data, demo_run, no_gpu, tmp_path):
    rna = demo_data / "rna_b.h5ad"
    result = run_cli(
        "embed",
        "--model",
        demo_run / "model",
        "--input",
        rna,
        "--sample",
        "rna_b",
        "--modality",
        "rna_b",
        "--outdir",
        tmp_path,
    )
    assert result.exit_code == 0, result.output
    assert "--device auto: no CUDA GPU visible, using the CPU" in result.stderr
    np.testing.assert_allclose(_latent(tmp_path, "rna_b"), _latent(demo_run, "rna_b"), atol=1e-5)


# --- GPU out of memory ---------------------------------------------------------------------------------------


@pytest.fixture
def one_torch_thread():
    """In-process training here on one thread (the CPU is shared); restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _tiny_trainer(batch_size: int) -> Trainer:
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    data = {
        "rna": DomainData("rna", rng.normal(size=(120, 6)), sp.csr_matrix(rng.poisson(1.0, (120, 20)))),
        "atac": DomainData("atac", rng.normal(size=(90, 6)), sp.csr_matrix(rng.binomial(1, 0.2, (90, 30)))),
    }
    net = CrossNetwork(
        [DomainSpec("rna", 6, 20, "nb"), DomainSpec("atac", 6, 30, "bernoulli")],
        Architecture(n_latent=4, n_joint=3, n_hidden=8, aligner_hidden=8, discriminator_hidden=8),
    )
    config = TrainConfig(batch_size=batch_size, max_epochs_pretrain=2, max_epochs_align=2, seed=0)
    return Trainer(net, data, [], config=config, weights=LossWeights(), device=torch.device("cpu"))


def test_step_cap_shortens_the_epoch_budget_of_each_stage(one_torch_thread):
    from dataclasses import replace

    epochs = {}
    for cap in (0, 10):
        trainer = _tiny_trainer(batch_size=16)  # 108 training cells per domain at most: 7 steps per epoch
        trainer.config = replace(trainer.config, max_epochs_pretrain=5, max_epochs_align=5, max_steps=cap)
        history = trainer.fit()
        epochs[cap] = [sum(1 for row in history if row["stage"] == stage) for stage in (1, 2)]
    assert trainer.sampler.n_steps() == 7
    assert epochs == {0: [5, 5], 10: [2, 2]}  # ceil(10 / 7) epochs per stage under the cap


@pytest.mark.parametrize(("patience", "expected"), [(10, [False, False, True]), (0, [True])])
def test_progress_marks_each_stage_last_epoch(patience, expected, one_torch_thread):
    """The last epoch of a stage, by its budget (3) or by early stopping (patience 0), is flagged once."""
    from dataclasses import replace

    calls = []
    trainer = _tiny_trainer(batch_size=16)
    trainer.config = replace(trainer.config, max_epochs_pretrain=3, max_epochs_align=3, patience=patience)
    trainer.progress = lambda stage, epoch, max_epochs, losses, last: calls.append((stage, epoch, last))
    trainer.fit()
    for stage in ("pretrain", "align"):
        assert [last for s, _, last in calls if s == stage] == expected


def test_epoch_bar_closes_at_its_stage_last_epoch(monkeypatch):
    """A bar stops its clock at the stage's last epoch, not when the caller leaves the context."""
    from crossomics.cli import _progress

    closed = []

    class Bar:
        def __init__(self, total, desc, unit, leave):
            self.n, self.desc = 0, desc

        def update(self, k):
            self.n += k

        def set_postfix(self, values):
            pass

        def close(self):
            closed.append(self.desc)

    monkeypatch.setattr(_progress, "tqdm", Bar)
    with _progress.epoch_progress() as update:
        update("pretrain", 1, 2, {"train": 1.0}, False)
        assert closed == []
        update("pretrain", 2, 2, {"train": 0.9}, True)
        assert closed == ["train:pretrain"]
        update("align", 1, 5, {"train": 0.8}, True)  # early stop after one epoch
        assert closed == ["train:pretrain", "train:align"]


def _oom_above(limit: int, monkeypatch) -> list[int]:
    """Make every step on more than ``limit`` cells per domain raise CUDA OOM; returns the sizes tried."""
    tried: list[int] = []
    real = Trainer._step

    def step(self, batch):
        n = max(len(v) for v in batch.values())
        tried.append(n)
        if n > limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, batch)

    monkeypatch.setattr(Trainer, "_step", step)
    return tried


def test_gpu_out_of_memory_halves_the_batch_retries_and_records_it(monkeypatch, caplog, one_torch_thread):
    tried = _oom_above(30, monkeypatch)
    trainer = _tiny_trainer(batch_size=128)
    with caplog.at_level(logging.WARNING, logger="crossomics"):
        history = trainer.fit()
    assert tried[:3] == [128, 64, 32]  # the failing batch was retried in halves until it fit
    assert max(n for n in tried if n <= 30) == 16 and trainer.config.batch_size == 16
    assert [r["batch_size"] for r in history] == [16] * 4
    assert [r["oom_retries"] for r in history] == [3, 0, 0, 0]  # 128 -> 64 -> 32 -> 16, once
    assert all(np.isfinite(r["train_total"]) for r in history)
    warnings = [r.getMessage() for r in caplog.records if "out of memory" in r.getMessage()]
    assert (
        warnings[0]
        == "pretrain epoch 1: out of memory on cpu with batch size 128; retrying with batch size 64"
    )
    assert len(warnings) == 3


def test_gpu_out_of_memory_at_batch_size_one_is_a_clear_error(monkeypatch, one_torch_thread):
    _oom_above(0, monkeypatch)
    with pytest.raises(
        InputError, match="out of memory on cpu even with a batch of 1 cell. Fix: use --device cpu"
    ):
        _tiny_trainer(batch_size=4).fit()


def test_resume_keeps_a_batch_size_halved_by_out_of_memory(monkeypatch, tmp_path, one_torch_thread):
    _oom_above(30, monkeypatch)
    trainer = _tiny_trainer(batch_size=128)
    trainer.checkpoint_path = tmp_path / "checkpoint.pt"
    trainer.fit()
    monkeypatch.undo()
    again = _tiny_trainer(batch_size=128)
    again.checkpoint_path = tmp_path / "checkpoint.pt"
    again.fit(resume=True)
    assert again.config.batch_size == 16 and again.sampler.batch_size == 16


def test_validation_decodes_a_fixed_seeded_feature_subset(monkeypatch, one_torch_thread):
    """Validation decodes ``decoded_features`` columns of large factorised domains, the same ones every epoch."""
    from dataclasses import replace

    seen: dict[str, list] = {"rna": [], "atac": []}
    real = CrossNetwork.vae_terms

    def spy(self, name, x, counts, library, *, joint, features=None):
        seen[name].append(None if features is None else features.tolist())
        return real(self, name, x, counts, library, joint=joint, features=features)

    monkeypatch.setattr(CrossNetwork, "vae_terms", spy)
    subsets = []
    for _ in range(2):
        trainer = _tiny_trainer(batch_size=32)
        trainer.config = replace(trainer.config, decoded_features=8)
        seen["rna"].clear(), seen["atac"].clear()
        first = trainer._validate()
        trainer._train_epoch()  # draws from the trainer's generator in between
        second = trainer._validate()
        assert seen["rna"][0] is None and seen["rna"][-1] is None  # NB decodes every feature
        val_atac = [seen["atac"][0], seen["atac"][-1]]
        assert len(val_atac[0]) == 8 and val_atac[0] == val_atac[1]
        assert np.isfinite(first["total"]) and np.isfinite(second["total"])
        subsets.append(val_atac[0])
    assert subsets[0] == subsets[1]  # same seed, same subset


# --- a failed rerun ------------------------------------------------------------------------------------------


def _digests(root: Path) -> dict[str, str]:
    import hashlib

    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


def test_failed_rerun_leaves_the_previous_run_byte_identical(demo_data, demo_run, tmp_path):
    """Rerun into a complete run's folder with other data for a sample and a last sample that passes validation
    but loses every cell in QC: every earlier file is unchanged and no temporary file is left."""
    import shutil

    from crossomics.runner import RunOptions, run_all

    outdir = tmp_path / "results"
    shutil.copytree(demo_run, outdir)
    before = _digests(outdir)
    fewer = ad.read_h5ad(demo_data / "rna_a.h5ad")[:400].copy()  # QC of rna_a would write other files
    fewer.write_h5ad(tmp_path / "rna_a.h5ad")
    low = ad.read_h5ad(demo_data / "rna_b.h5ad")
    low.X = sp.csr_matrix((np.ones(low.n_obs), (np.arange(low.n_obs), np.zeros(low.n_obs))), shape=low.shape)
    low.write_h5ad(tmp_path / "rna_low.h5ad")
    sheet = tmp_path / "samplesheet.csv"
    sheet.write_text(
        "sample,modality,file,batch,condition\n"
        f"rna_a,rna,{tmp_path / 'rna_a.h5ad'},b1,\n"
        f"atac_a,atac,{demo_data / 'atac_a.h5ad'},b1,\n"
        f"rna_low,rna,{tmp_path / 'rna_low.h5ad'},b2,\n"
    )
    lines: list[str] = []
    options = RunOptions(input=sheet, outdir=outdir, device="cpu", seed=0, max_epochs=4, n_sim_cells=500)
    with pytest.raises(InputError, match="rna_low"):
        run_all(options, echo=lines.append)
    assert lines == [lines[0]] and lines[0].startswith("[validate]")  # it failed after validation
    assert _temps(outdir) == []
    after = _digests(outdir)
    assert after == before, sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def test_earlier_outputs_wait_aside_through_a_stopped_rerun_and_its_resume(tmp_path):
    from crossomics.io.rerun import PREVIOUS, keep_previous_outputs

    out = tmp_path / "results"
    write_json({"run": 1}, out / "metrics" / "integration.json")
    write_json({"run": 1}, out / "model" / "checkpoint.pt")
    (out / "notes.txt").write_text("not an output folder")
    with pytest.raises(KeyboardInterrupt), keep_previous_outputs(out):  # a rerun stopped in training
        assert sorted(p.name for p in out.iterdir()) == [PREVIOUS, "notes.txt"]
        write_json({"run": 2}, out / "model" / "checkpoint.pt")
        raise KeyboardInterrupt
    assert (out / PREVIOUS / "metrics").is_dir() and '"run": 2' in (out / "model/checkpoint.pt").read_text()
    with pytest.raises(RuntimeError), keep_previous_outputs(out, resume=True):  # its resume fails
        assert '"run": 2' in (out / "model/checkpoint.pt").read_text()  # the new checkpoint, kept
        raise RuntimeError
    assert '"run": 1' in (out / "model/checkpoint.pt").read_text() and not (out / PREVIOUS).exists()
    with keep_previous_outputs(out, resume=True):  # a resume right after a complete run: its checkpoint
        assert '"run": 1' in (out / "model/checkpoint.pt").read_text() and not (out / "metrics").exists()
        write_json({"run": 3}, out / "metrics" / "integration.json")
    assert sorted(p.name for p in out.iterdir()) == ["metrics", "model", "notes.txt"]
    assert '"run": 3' in (out / "metrics" / "integration.json").read_text()
