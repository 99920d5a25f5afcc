"""Build ``DIR/multiqc/multiqc_report.html``: custom-content files from the stage outputs, then MultiQC."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from ..errors import InputError
from ..io.layout import Layout
from ..io.samplesheet import SampleRow, read_samplesheet
from ..io.write import atomic_path, write_text
from ._content import write_content
from ._inputs import out_path, read_json
from .sections import Context, registry

log = logging.getLogger(__name__)

REPORT_NAME = "multiqc_report.html"
DATA_DIR = "multiqc_data"
INPUTS_DIR = "mqc_inputs"
#: the repository's MultiQC settings (title, section order, plot defaults)
DEFAULT_CONFIG = Path(__file__).resolve().parents[3] / "assets" / "multiqc_config.yml"
#: section errors that leave one section out (with a note) instead of failing the whole report
SECTION_ERRORS = (OSError, KeyError, ValueError, TypeError, IndexError)


def build_inputs(
    layout: Layout,
    *,
    samplesheet: str | os.PathLike | None = None,
    seed: int = 0,
    config: str | os.PathLike | None = None,
) -> tuple[Path, list[str]]:
    """Write every section's custom-content files and this run's MultiQC settings to DIR/multiqc/mqc_inputs.

    Parameters
    ----------
    layout
        The run's output layout; only read, except for ``multiqc/``.
    samplesheet
        The run's samplesheet (optional): the samples section then shows batches, conditions and files.
        Without it, ``pipeline_info/params.json``'s ``input`` is used when it names a readable file.
    seed
        Seed of the figures' drawing order.
    config
        The MultiQC settings the report will use; when None or missing, the run settings carry the title and
        the section order themselves.

    Returns
    -------
    The inputs folder, and one note per section left out (``"<title>: <reason>"``).
    """
    folder = layout.dir("multiqc") / INPUTS_DIR
    shutil.rmtree(
        folder, ignore_errors=True
    )  # a section whose inputs are gone must not survive from a past run
    (folder / "figures").mkdir(parents=True)
    ctx = Context(layout, _rows(layout, samplesheet), folder / "figures", seed)
    notes, anchors = [], []
    for section, builder, missing in registry():
        try:
            contents = builder(ctx)
        except SECTION_ERRORS as err:
            log.warning("report: section %s left out: %s: %s", section.title, type(err).__name__, err)
            contents, missing = [], f"its inputs could not be read ({type(err).__name__}: {err})"
        for content in contents:
            write_content(folder, section, content)
            anchors.append(content.id)
        if not contents:
            notes.append(f"{section.title}: {missing}")
    settings: dict = {"report_section_order": {a: {"order": i} for i, a in enumerate(anchors)}}
    if notes:
        settings["report_comment"] = (
            "Left out of this report (no outputs for them in this run): " + "; ".join(notes) + "."
        )
    if config is None or not Path(config).is_file():
        sections = [s.id for s, _, _ in registry()]
        settings |= {
            "title": "crossomics report",
            "custom_content": {"order": sections},
            "no_version_check": True,
            "fn_clean_sample_names": False,
            "thousandsSep_format": ",",
            "plots_defer_loading_numseries": 5000,
            "num_datasets_plot_limit": 5000,
            "skip_versions_section": True,
        }
    write_text(yaml.safe_dump(settings, sort_keys=False, allow_unicode=True), folder / "run_config.yml")
    return folder, notes


def _rows(layout: Layout, samplesheet: str | os.PathLike | None) -> list[SampleRow] | None:
    if samplesheet is not None:
        return read_samplesheet(samplesheet)
    params = read_json(out_path(layout, "pipeline_info", "params.json"))
    params = params if isinstance(params, dict) else {}
    nested = params.get("params") if isinstance(params.get("params"), dict) else {}
    candidates = [
        out_path(layout, "pipeline_info", "samplesheet.valid.csv"),
        params.get("input"),
        nested.get("input"),
    ]
    for path in candidates:
        if isinstance(path, (str, Path)) and Path(path).is_file():
            try:
                return read_samplesheet(path)
            except Exception as err:  # noqa: BLE001 - the summary falls back to the QC outputs
                log.warning("report: samplesheet %s not read: %s", path, err)
    return None


def _require_results(layout: Layout) -> None:
    """An :class:`InputError` when no stage folder under ``layout`` holds a file (nothing to report on)."""
    from ..io.layout import SUBDIRS
    from ..io.write import TMP_MARK

    stages = [d for d in SUBDIRS if d not in ("multiqc", "pipeline_info")]
    for d in stages:
        folder = layout.outdir / d
        if folder.is_dir() and any(p.is_file() and TMP_MARK not in p.name for p in folder.rglob("*")):
            return
    msg = (
        f"--outdir {layout.outdir}: no crossomics results to report on (none of "
        f"{', '.join(d + '/' for d in stages)} holds a file). Run `crossomics run --outdir {layout.outdir}` "
        "(or the pipeline's steps) first, or point --outdir at the output folder of a run."
    )
    raise InputError(msg)


def _check_config(config: Path) -> None:
    """Refuse MultiQC settings that are not a YAML mapping before anything under the output folder changes."""
    try:
        settings = yaml.safe_load(config.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        msg = f"--multiqc-config {config}: not valid YAML ({str(err).splitlines()[0]}). Fix: correct the file, or leave the option out."
        raise InputError(msg) from None
    if settings is not None and not isinstance(settings, dict):
        msg = f"--multiqc-config {config}: holds a {type(settings).__name__}, not MultiQC settings (key: value lines). Fix: correct the file."
        raise InputError(msg)


def run_report(
    layout: Layout,
    *,
    samplesheet: str | os.PathLike | None = None,
    seed: int = 0,
    config: str | os.PathLike | None = None,
    timeout: float = 600.0,
) -> Path:
    """Build the report ``DIR/multiqc/multiqc_report.html`` (and ``multiqc_data/``) from the run's outputs.

    Sections whose inputs exist are rendered; the others are listed in a note at the top. MultiQC runs in a
    subprocess (``python -m multiqc``) so that its global state and logging stay out of the caller's process;
    the report and data folder replace earlier ones only when complete.

    Parameters
    ----------
    layout
        The run's output layout.
    samplesheet
        Optional samplesheet of the run (see :func:`build_inputs`).
    seed
        Seed of the figures' drawing order.
    config
        MultiQC settings; default: the repository's ``assets/multiqc_config.yml``.
    timeout
        Seconds MultiQC may run.

    Returns
    -------
    The path of the written report.
    """
    _require_results(layout)
    # absolute paths: MultiQC runs in a scratch folder, and the Nextflow task passes `--outdir .`
    config = (Path(config) if config is not None else DEFAULT_CONFIG).resolve()
    if config.is_file():
        _check_config(config)
    else:
        log.warning("report: MultiQC settings %s not found; using built-in title and section order", config)
    folder, notes = build_inputs(layout, samplesheet=samplesheet, seed=seed, config=config)
    folder, out = folder.resolve(), layout.dir("multiqc").resolve()
    with tempfile.TemporaryDirectory(prefix=".multiqc-", dir=out) as scratch:
        cmd = [
            sys.executable,
            "-m",
            "multiqc",
            str(folder),
            "--module",
            "custom_content",
            "--outdir",
            scratch,
            "--filename",
            REPORT_NAME,
            "--force",
            "--no-ai",
            "--no-version-check",
            "--no-ansi",
            "--quiet",
        ]
        for c in ([config] if config.is_file() else []) + [folder / "run_config.yml"]:
            cmd += ["--config", str(c)]
        env = {**os.environ, "MPLCONFIGDIR": os.environ.get("MPLCONFIGDIR", str(Path(scratch) / "mpl"))}
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=scratch, check=False
        )
        html = Path(scratch) / REPORT_NAME
        if proc.returncode != 0 or not html.is_file():
            msg = f"MultiQC failed (exit {proc.returncode}): {(proc.stderr or proc.stdout)[-2000:]}"
            raise RuntimeError(msg)
        with atomic_path(out / REPORT_NAME) as tmp:
            shutil.move(html, tmp)
        data = next(
            (d for d in sorted(Path(scratch).iterdir()) if d.is_dir() and d.name.endswith("_data")), None
        )
        if data is not None:
            with atomic_path(out / DATA_DIR) as tmp:
                shutil.move(data, tmp)
    for note in notes:
        log.info("report: left out %s", note)
    return out / REPORT_NAME
