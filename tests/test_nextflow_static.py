"""Static checks of the Nextflow pipeline without Nextflow, each shown to catch an error planted in a copy.

- syntax: every .nf, .nf.test and .config parses with Groovy 4 (tests/nextflow/ParseCheck.java);
- structure: includes resolve, processes have tag/label/stub/versions/bin script (structure_check.py);
- nf-core: ``nf-core pipelines lint`` passes with the stand-in ``nextflow`` (tests/nextflow/nextflow);
- the stand-in's config evaluation, the Groovy helper functions of the pipeline, and the generated
  parameter reference in docs/usage.md.

Tools come from ``make nextflow-tools`` (.tools/); a missing tool is a failure that says so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "nextflow"))
import nfconfig  # noqa: E402
import schema_docs  # noqa: E402
import tasks  # noqa: E402

import crossomics  # noqa: E402

REPO = tasks.REPO
TOOLS = tasks.TOOLS
STANDIN = REPO / "tests" / "nextflow"
PIPELINE_PARTS = ["main.nf", "nextflow.config", "nextflow_schema.json", ".nf-core.yml", "workflows", "subworkflows",
                  "modules", "conf", "assets", "bin", "docs", "tests/nextflow", "tests/default.nf.test",
                  "tests/nextflow.config", "tests/.nftignore", "nf-test.config", "CHANGELOG.md", "CITATIONS.md",
                  "LICENSE", "README.md"]


def _tool(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make nextflow-tools`")
    return path


def _sources(root: Path = REPO) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", "*.nf", "*.nf.test", "*.config"],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout.split()
    return [f for f in out if (root / f).is_file()]


def _copy_pipeline(dest: Path) -> Path:
    """The pipeline's files (not the package, data or tools) in ``dest``."""
    for part in PIPELINE_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__", ".nf-test"))
        elif src.is_file():
            (dest / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / part)
    return dest


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.unlink()  # the copy may be a hard link to the original: write a new file
    path.write_text(text.replace(old, new, 1))


# ------------------------------------------------------------------------------------------------------
# syntax
# ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def parsecheck() -> list[str]:
    """The java command line of the syntax check, compiled into .tools/parsecheck when stale."""
    classpath = tasks.groovy_classpath() if tasks.GROOVY_LIB.exists() else pytest.fail("run `make nextflow-tools`")
    out = TOOLS / "parsecheck"
    source = REPO / "tests" / "nextflow" / "ParseCheck.java"
    compiled = out / "ParseCheck.class"
    if not compiled.exists() or compiled.stat().st_mtime < source.stat().st_mtime:
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run(["javac", "-cp", classpath, "-d", str(out), str(source)], check=True)
    return ["java", "-cp", classpath + os.pathsep + str(out), "ParseCheck"]


def test_every_nextflow_file_parses(parsecheck) -> None:
    files = _sources()
    assert len(files) >= 40, files  # main, workflow, subworkflows, modules and their nf-tests, configs
    proc = subprocess.run([*parsecheck, *files], cwd=REPO, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert f"{len(files)} of {len(files)} files parse" in proc.stdout


def test_parse_check_reports_planted_errors_with_file_and_line(parsecheck, tmp_path) -> None:
    module = tmp_path / "main.nf"
    lines = (REPO / "modules" / "local" / "qc" / "main.nf").read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("def args"))
    lines.insert(at + 1, "    def flags = [ '--a', '--b'")  # unclosed list, planted at line at + 2
    module.write_text("\n".join(lines) + "\n")

    config = tmp_path / "base.config"
    config.write_text((REPO / "conf" / "base.config").read_text().replace("withLabel:process_low {", "withLabel:process_low {{", 1))

    string = tmp_path / "string.nf"
    string.write_text("workflow {\n    def x = 'unterminated\n}\n")

    good = REPO / "modules" / "local" / "preprocess" / "main.nf"
    proc = subprocess.run([*parsecheck, str(module), str(config), str(string), str(good)], capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert "1 of 4 files parse" in proc.stdout
    err = proc.stderr
    assert re.search(rf"{re.escape(str(module))}:\d+:\d+: ", err), err
    assert f"{module}:{at + 2}:" in err and "never closed" in err or f"opened at line {at + 2}" in err, err
    assert re.search(rf"{re.escape(str(config))}:\d+:\d+: ", err), err
    assert f"{string}:2:" in err, err
    assert str(good) not in err


# ------------------------------------------------------------------------------------------------------
# structure
# ------------------------------------------------------------------------------------------------------


def _structure(*roots: Path) -> dict[str, list[str]]:
    python = _tool(TOOLS / "checks-venv" / "bin" / "python")
    proc = subprocess.run([str(python), str(STANDIN / "structure_check.py"), "--json", *map(str, roots)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_structure_check_passes_on_the_pipeline() -> None:
    problems = _structure(REPO)[str(REPO)]
    assert problems == [], "\n".join(problems)


PLANTS = {
    "include_missing_file": (
        "workflows/crossomics.nf", "'../subworkflows/local/downstream'", "'../subworkflows/local/downstreem'",
        r"workflows/crossomics\.nf:\d+: include from '\.\./subworkflows/local/downstreem': no such file"),
    "include_unknown_name": (
        "subworkflows/local/integrate/main.nf", "include { LATENT  }", "include { LATENTS }",
        r"subworkflows/local/integrate/main\.nf:\d+: include \{ LATENTS \} from '\.\./\.\./\.\./modules/local/latent': "
        r"modules/local/latent/main\.nf defines no process"),
    "no_stub": (
        "modules/local/qc/main.nf", "    stub:", "    // no stub",
        r"modules/local/qc/main\.nf:1: process QC has no stub: block"),
    "no_tag": (
        "modules/local/preprocess/main.nf", '    tag "${meta.id}"\n', "",
        r"modules/local/preprocess/main\.nf:1: process PREPROCESS has no tag"),
    "missing_bin_script": (
        "modules/local/qc/main.nf", "crossomics_qc.py", "crossomics_qcc.py",
        r"modules/local/qc/main\.nf:\d+: process QC calls bin/crossomics_qcc\.py, which does not exist"),
    "versions_off_topic": (
        "modules/local/latent/main.nf", "emit: versions_crossomics, topic: versions", "emit: versions_crossomics",
        r"modules/local/latent/main\.nf:\d+: process LATENT: versions output is not on the 'versions' topic"),
    "no_versions": (
        "modules/local/simulate/main.nf", ", emit: versions_crossomics, topic: versions", ", topic: versions",
        r"modules/local/simulate/main\.nf:\d+: process SIMULATE has no versions output"),
    "module_reads_params": (
        "modules/local/qc/main.nf", "def args = task.ext.args ?: ''", "def args = params.extra_qc_args ?: ''",
        r"modules/local/qc/main\.nf:\d+: module reads params"),
    "unknown_label": (
        "modules/local/metrics/main.nf", "label 'process_medium'", "label 'process_huge'",
        r"modules/local/metrics/main\.nf:\d+: label 'process_huge' is not defined in conf/base\.config"),
    "unknown_selector": (
        "conf/modules.config", "withName: 'SIMULATE'", "withName: 'SIMULATION'",
        r"conf/modules\.config:0: withName 'SIMULATION' names no process"),
}


def test_structure_check_catches_planted_errors(tmp_path) -> None:
    base = tmp_path / "clean"
    base.mkdir()
    for part in ("main.nf", "nextflow.config", "conf", "workflows", "subworkflows", "modules", "bin"):
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, base / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, base / part)
    for call in {c for p in (base / "modules" / "local").glob("*/main.nf") for c in re.findall(r"crossomics_\w+\.py", p.read_text())}:
        script = base / "bin" / call  # scripts other engineers have not written yet: placeholders in the copy
        if not script.exists():
            script.write_text("#!/usr/bin/env python3\n")
            script.chmod(0o755)
    roots = {"clean": base}
    for name, (path, old, new, _) in PLANTS.items():
        copy = tmp_path / name
        shutil.copytree(base, copy, copy_function=os.link)  # hard links; _edit replaces the planted file
        _edit(copy / path, old, new)
        roots[name] = copy
    results = _structure(*roots.values())
    assert results[str(base)] == [], results[str(base)]
    for name, (_, _, _, expected) in PLANTS.items():
        problems = results[str(roots[name])]
        # exactly the planted problem (an unknown include name also leaves its module unused)
        assert problems and re.match(expected, problems[0]), (name, problems)
        assert len(problems) == (2 if name == "include_unknown_name" else 1), (name, problems)


# ------------------------------------------------------------------------------------------------------
# nf-core lint with the stand-in nextflow
# ------------------------------------------------------------------------------------------------------


def _lint(root: Path, tmp_path: Path) -> dict:
    """nf-core lint of the files git knows under ``root`` (tests/nextflow/nfcore_lint.py), as JSON results."""
    nfcore = _tool(TOOLS / "nfcore-venv" / "bin" / "nf-core")
    report = tmp_path / f"lint_{root.name}.json"
    proc = subprocess.run([sys.executable, str(STANDIN / "nfcore_lint.py"), str(nfcore), str(root), "--json", str(report)],
                          capture_output=True, text=True, check=False)
    assert report.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(report.read_text())
    result["returncode"] = proc.returncode
    return result


def _messages(results: list) -> list[str]:
    return [f"{test}: {msg}" for test, msg in results]


def test_nf_core_lint_passes(tmp_path) -> None:
    result = _lint(REPO, tmp_path)
    assert result["num_tests_failed"] == 0, "\n".join(_messages(result["tests_failed"]))
    assert result["returncode"] == 0
    assert result["num_tests_pass"] > 80


def test_nf_core_lint_catches_planted_errors(tmp_path) -> None:
    copy = _copy_pipeline(tmp_path / "pipeline")
    subprocess.run(["git", "init", "-q"], cwd=copy, check=True)  # nfcore_lint.py lints the files git knows
    if not (copy / "README.md").exists():
        (copy / "README.md").write_text("# crossomics\n")
    _edit(copy / "nextflow.config", "n_comps                    = 50", "n_comps                    = 40")
    _edit(copy / "nextflow.config", "seed                       = 0", "seed                       = 0\n    undocumented_option        = 1")
    failed = "\n".join(_messages(_lint(copy, tmp_path)["tests_failed"]))
    assert "params.n_comps" in failed and "50" in failed and "40" in failed, failed
    assert "undocumented_option" in failed, failed


# ------------------------------------------------------------------------------------------------------
# the stand-in nextflow and the config evaluator
# ------------------------------------------------------------------------------------------------------


def _standin(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(STANDIN / "nextflow"), *args], cwd=cwd, capture_output=True, text=True, check=False)


def test_standin_version_satisfies_the_manifest() -> None:
    proc = _standin("-v")
    assert proc.returncode == 0
    version = tuple(int(x) for x in proc.stdout.strip().split()[-1].split(".")[:3])  # as nf-core parses it
    minimum = nfconfig.load_config(REPO / "nextflow.config")["manifest"]["nextflowVersion"]
    assert version >= tuple(int(x) for x in re.search(r"[\d.]+", minimum).group(0).split("."))


def test_standin_config_json_and_profiles() -> None:
    proc = _standin("config", "-o", "json", str(REPO))
    assert proc.returncode == 0, proc.stderr
    config = json.loads(proc.stdout)
    assert config["manifest"]["name"] == "crossomics/crossomics"
    assert config["plugins"] == ["nf-schema@2.5.1"]
    assert config["process"]["cpus"] == "{ 1    * task.attempt }"  # closures print as source, like nextflow config
    assert config["process"]["withLabel:process_gpu"] == {"time": "{ 24.h * task.attempt }"}
    assert config["params"]["input"] is None and config["params"]["n_comps"] == 50

    flat = _standin("config", "-flat", "-profile", "test,gpu", str(REPO))
    assert flat.returncode == 0, flat.stderr
    lines = dict(line.split(" = ", 1) for line in flat.stdout.splitlines())
    assert lines["params.input"] == f"'{REPO}/assets/test_data/samplesheet.csv'"
    assert lines["params.max_epochs"] == "5"
    assert lines["process.'withLabel:process_gpu'.accelerator"] == "1"

    assert _standin("config", "-profile", "nosuch", str(REPO)).returncode == 1
    refused = _standin("run", "main.nf")
    assert refused.returncode == 1 and "not supported" in refused.stderr


def test_config_evaluator_semantics(tmp_path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "extra.config").write_text("params.from_include = \"${params.base}-x\"\nprocess.cpus = 4\n")
    (tmp_path / "nextflow.config").write_text(
        "params {\n    base = 'b'\n    mem = 6.GB\n    later = null\n}\n"
        "includeConfig params.base ? 'conf/extra.config' : '/dev/null'\n"
        "profiles {\n    p1 { params.later = 'from p1'\n        process.cpus = 8 }\n    p2 { params.later = 'from p2' }\n}\n"
        "process {\n    withName: 'QC' { ext.args = { \"--n ${params.base}\" } }\n}\n"
    )
    plain = nfconfig.load_config(tmp_path / "nextflow.config")
    assert plain["params"] == {"base": "b", "mem": nfconfig.Unit("6 GB"), "later": None, "from_include": "b-x"}
    assert plain["process"]["cpus"] == 4
    assert str(plain["process"]["withName:QC"]["ext"]["args"]) == '{ "--n ${params.base}" }'
    both = nfconfig.load_config(tmp_path / "nextflow.config", profiles=["p1", "p2"])
    assert both["params"]["later"] == "from p2" and both["process"]["cpus"] == 8
    (tmp_path / "bad.config").write_text("params {\n    x = 'open\n}\n")
    with pytest.raises(nfconfig.ConfigError, match=r"bad\.config:2: unterminated string"):
        nfconfig.load_config(tmp_path / "bad.config")


def test_versions_agree() -> None:
    """manifest.version, the image tag of process.container and the package version are one version."""
    config = nfconfig.load_config(REPO / "nextflow.config")
    version = config["manifest"]["version"]
    assert config["process"]["container"].rsplit(":", 1)[1] == version == crossomics.__version__
    assert f"## v{version}" in (REPO / "CHANGELOG.md").read_text()


def test_every_parameter_is_in_the_schema_and_documented() -> None:
    config = nfconfig.load_config(REPO / "nextflow.config")
    schema = json.loads((REPO / "nextflow_schema.json").read_text())
    in_schema = {name for group in schema["$defs"].values() for name in group["properties"]}
    assert set(config["params"]) == in_schema
    assert schema_docs.main(["--check"]) == 0, "run python tests/nextflow/schema_docs.py --write"
    usage = (REPO / "docs" / "usage.md").read_text()
    for name in in_schema:
        assert f"`--{name}`" in usage


# ------------------------------------------------------------------------------------------------------
# the Groovy helper functions of the pipeline, run by Groovy
# ------------------------------------------------------------------------------------------------------


def test_groovy_helpers(tmp_path) -> None:
    utils = str(REPO / "subworkflows" / "local" / "utils_nfcore_crossomics_pipeline" / "main.nf")
    meta = {"id": "a", "modality": "rna", "batch": "b,1", "condition": [], "genome": None, "mudata_key": None,
            "allow_non_counts": False}
    requests = [
        {"function_file": utils, "call": "stagedSamplesheet", "args": [[
            [meta, {"__file__": "/data/x/a.h5ad"}],
            [{**meta, "id": "b", "modality": "atac", "batch": None, "condition": 'say "hi"', "allow_non_counts": True},
             {"__file__": "/data/y/a.h5ad"}]]]},
        {"function_file": utils, "call": "splitCsvLine", "args": ['s1,"b,1","say ""hi""",', ","]},
        {"function_file": utils, "call": "pairMeta", "args": [{"id": "r", "modality": "rna"}, {"id": "t", "modality": "atac"}]},
        {"function_file": utils, "call": "mergeJsonObjects", "args": [['{"r__t": {"n": 3}}', '{"r__d": {"n": 5}}']]},
    ]
    sheet, fields, pair, merged = (r.get("result", r) for r in tasks.render(requests, tmp_path))
    assert sheet.splitlines() == [
        "sample,modality,file,batch,condition,genome,mudata_key,allow_non_counts",
        'a,rna,inputs/1/a.h5ad,"b,1",,,,false',
        'b,atac,inputs/2/a.h5ad,,"say ""hi""",,,true',
    ]
    assert fields == ["s1", "b,1", 'say "hi"', ""]
    assert pair == {"id": "r__t", "sample_a": "r", "modality_a": "rna", "sample_b": "t", "modality_b": "atac"}
    assert json.loads(merged) == {"r__d": {"n": 5}, "r__t": {"n": 3}}


@pytest.mark.parametrize("profile", ["test", "test_full"])
def test_profile_data_exist(profile: str) -> None:
    """The files a test profile names exist, and its samplesheet's files resolve beside the sheet."""
    from crossomics.io.samplesheet import read_samplesheet

    params = nfconfig.load_config(REPO / "nextflow.config", profiles=[profile])["params"]
    for key in ("input", "annotation", "gene_sets"):
        assert Path(params[key]).is_file(), f"-profile {profile}: --{key} {params[key]} does not exist"
    rows = read_samplesheet(params["input"])
    assert len({r.modality for r in rows}) >= 2
    assert all(r.file.exists() for r in rows), [str(r.file) for r in rows]
