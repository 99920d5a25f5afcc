"""Run Nextflow process tasks without Nextflow (for the contract and stub tests).

A task is rendered by TaskRender.groovy (Groovy 4 from npm-groovy-lint, installed by
``make nextflow-tools``): input staging, command, output declarations. :func:`run_task` then lays out a task
folder the way Nextflow stages inputs (symbolic links), runs the command with bash as the pipeline's
``process.shell`` does, with ``bin/`` and the project's ``.venv/bin`` first on PATH, and lists which
declared outputs appeared.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import nfconfig

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / ".tools"
GROOVY_LIB = TOOLS / "groovy" / "node_modules" / "npm-groovy-lint" / "lib" / "java" / "groovy" / "lib"
RENDERER = Path(__file__).resolve().parent / "TaskRender.groovy"
SHELL = ["bash", "-C", "-e", "-u", "-o", "pipefail"]  # process.shell in nextflow.config


class ToolsMissing(RuntimeError):
    """The Groovy jar is not installed (run ``make nextflow-tools``)."""


def groovy_classpath() -> str:
    jars = sorted(GROOVY_LIB.glob("groovy-*.jar"))
    if not any(j.name.startswith("groovy-4.") for j in jars):
        msg = f"Groovy 4 not found under {GROOVY_LIB}: run `make nextflow-tools` (installs npm-groovy-lint)"
        raise ToolsMissing(msg)
    return os.pathsep.join(str(j) for j in jars)


def render(requests: list[dict], scratch: Path) -> list[dict]:
    """Render ``requests`` (see TaskRender.groovy) in one JVM; raises on a request that failed."""
    request_file = scratch / "render_request.json"
    request_file.write_text(json.dumps(requests))
    proc = subprocess.run(
        ["java", "-cp", groovy_classpath(), "groovy.ui.GroovyMain", str(RENDERER), str(request_file)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    if proc.returncode != 0:
        msg = f"TaskRender failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
        raise RuntimeError(msg)
    return json.loads(proc.stdout)


def pipeline_config(profiles: tuple[str, ...] = (), **params) -> dict:
    """The evaluated nextflow.config (with ``profiles``), params updated like ``--name value`` would."""
    config = nfconfig.load_config(REPO / "nextflow.config", profiles=profiles)
    config["params"].update(params)
    return config


def ext_args(config: dict, process: str) -> str | None:
    """Source of ``ext.args`` for ``process`` from its ``withName`` block (None when it has none)."""
    block = config.get("process", {}).get(f"withName:{process}", {})
    value = block.get("ext", {}).get("args") if isinstance(block.get("ext"), dict) else None
    return None if value is None else str(value)


def task_request(module: str, inputs: list, config: dict, *, section: str = "script", task: dict | None = None) -> dict:
    """A TaskRender request for ``modules/local/<module>/main.nf`` with ext.args and params from ``config``."""
    process = module.upper()
    return {
        "module": str(REPO / "modules" / "local" / module / "main.nf"),
        "section": section,
        "inputs": inputs,
        "ext_args": ext_args(config, process),
        "params": nfconfig.render_value(config["params"]),
        "task": {"cpus": 2, "attempt": 1, "accelerator": None, **(task or {})},
    }


def _expand_braces(pattern: str) -> list[str]:
    m = re.search(r"\{([^{}]*)\}", pattern)
    if not m:
        return [pattern]
    return [x for alt in m.group(1).split(",") for x in _expand_braces(pattern[: m.start()] + alt + pattern[m.end() :])]


def glob_outputs(workdir: Path, pattern: str, staged: set[str]) -> list[str]:
    """Files or folders matching an output pattern, Nextflow-style: `*` stays within one folder level,
    `{a,b}` alternatives, staged inputs excluded."""
    found = set()
    for alt in _expand_braces(pattern):
        depth = alt.count("/")
        for path in workdir.rglob("*"):
            rel = path.relative_to(workdir).as_posix()
            if rel.count("/") == depth and fnmatch.fnmatchcase(rel, alt) and rel not in staged:
                found.add(rel)
    return sorted(found)


@dataclass
class TaskRun:
    """What happened when a rendered task ran."""

    rendered: dict
    workdir: Path
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, list[str]] = field(default_factory=dict)  # emit name -> files found
    missing: list[str] = field(default_factory=list)  # "emit: pattern" declared but absent
    seconds: float = 0.0  # wall clock
    cpu_seconds: float = 0.0  # user + system time of the command and its children

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.missing

    def explain(self) -> str:
        return (
            f"{self.rendered['process']} in {self.workdir} exited {self.returncode}\n"
            f"command:\n{self.rendered['command']}\nstdout:\n{self.stdout[-3000:]}\nstderr:\n{self.stderr[-3000:]}\n"
            f"missing outputs: {self.missing}"
        )


def run_task(rendered: dict, workdir: Path, *, env: dict | None = None) -> TaskRun:
    """Stage the inputs into ``workdir``, run the command, collect the declared outputs."""
    if "error" in rendered:
        raise RuntimeError(rendered["error"])
    workdir.mkdir(parents=True, exist_ok=True)
    staged = set()
    for source, dest in rendered["staging"]:
        target = workdir / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            raise RuntimeError(f"input file name collision: {dest}")
        target.symlink_to(Path(source).resolve())
        staged.add(dest)
    extra = env or {}
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(REPO / "bin"), str(REPO / ".venv" / "bin"), env.get("PATH", "")])
    env.update({"PYTHONNOUSERSITE": "1", "MPLCONFIGDIR": ".mplconfig", "NUMBA_CACHE_DIR": ".numba_cache"})  # nextflow.config env
    env.update(extra)
    (workdir / ".command.sh").write_text(rendered["command"])
    start = time.monotonic()
    # stdout and stderr to .command.out and .command.err, as Nextflow keeps them in the task folder
    with open(workdir / ".command.out", "w") as out, open(workdir / ".command.err", "w") as err:
        proc = subprocess.Popen([*SHELL, ".command.sh"], cwd=workdir, env=env, stdout=out, stderr=err)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            raise
    proc.returncode = os.waitstatus_to_exitcode(status)
    run = TaskRun(rendered, workdir, proc.returncode, (workdir / ".command.out").read_text(),
                  (workdir / ".command.err").read_text(), seconds=time.monotonic() - start,
                  cpu_seconds=usage.ru_utime + usage.ru_stime)
    for out in rendered["outputs"]:
        files = [f for pattern in out["paths"] for f in glob_outputs(workdir, pattern, staged)]
        run.outputs[out["emit"] or f"output{len(run.outputs) + 1}"] = files
        for pattern in out["paths"]:
            if not glob_outputs(workdir, pattern, staged) and not out["optional"]:
                run.missing.append(f"{out['emit']}: {pattern}")
    return run


def run_evals(run: TaskRun) -> dict[str, str]:
    """Run the task's ``eval`` outputs (the versions commands) in its folder, as Nextflow does after the script."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(REPO / "bin"), str(REPO / ".venv" / "bin"), env.get("PATH", "")])
    out = {}
    for decl in run.rendered["outputs"]:
        for command in decl["evals"]:
            proc = subprocess.run([*SHELL, "-c", command], cwd=run.workdir, env=env, capture_output=True, text=True, check=False)
            out[command] = proc.stdout.strip() if proc.returncode == 0 else f"FAILED({proc.returncode}): {proc.stderr}"
    return out
