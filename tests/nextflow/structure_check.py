"""Structure checks for the Nextflow pipeline, without Nextflow.

Parses every .nf file of the pipeline with reftrace (PyPI; Nextflow's own grammar) and checks:
  - every ``include`` resolves to a file, and every name it imports is a process, workflow or function
    defined there (``plugin/<name>`` includes need the plugin in nextflow.config);
  - every process has a ``tag``, a label defined in conf/base.config, a ``stub:`` block, a versions output
    (``emit: versions...`` on the ``versions`` topic) and a ``script:`` that calls an existing bin/ script;
  - modules read no ``params`` (options reach them through ``task.ext.args``), live in
    ``modules/local/<name>/main.nf`` with ``meta.yml`` and ``tests/main.nf.test``, and are all used;
  - every ``withName`` selector of conf/modules.config names a process.

Usage: python structure_check.py [PIPELINE_DIR]   (needs reftrace: run with .tools/checks-venv/bin/python)
Prints one "path:line: message" per problem; exit status 1 when there is any.
       python structure_check.py --json DIR...     one JSON object {DIR: [problems]} (for the tests)
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import reftrace

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nfconfig  # noqa: E402

# Processes that read the `versions` topic cannot also write to it: the topic closes only when every writer
# has finished, so such a writer would wait for itself (nf-core's MULTIQC module leaves the topic for this).
TOPIC_READERS = {"MULTIQC"}
SECTION = re.compile(r"^\s*(input|output|when|script|shell|exec|stub):\s*(//.*)?$")
FUNCTION = re.compile(r"^def\s+(\w+)\s*\(", re.MULTILINE)
BIN_CALL = re.compile(r"\b(crossomics_\w+\.py)\b")


def sections(text: str) -> dict[str, tuple[int, str]]:
    """Process sections by label: ``{label: (first line number, text)}``; directives are ``directives``."""
    out: dict[str, list] = {"directives": [1, []]}
    current = "directives"
    for number, line in enumerate(text.splitlines(), start=1):
        m = SECTION.match(line)
        if m:
            current = m.group(1)
            out[current] = [number, []]
            continue
        out[current][1].append(line)
    return {k: (v[0], "\n".join(v[1])) for k, v in out.items()}


def nf_files(root: Path) -> list[Path]:
    files = [root / "main.nf"] if (root / "main.nf").exists() else []
    for folder in ("workflows", "subworkflows", "modules"):
        files += sorted(p for p in (root / folder).rglob("*.nf") if "tests" not in p.relative_to(root).parts)
    return files


def resolve_include(source: Path, target: str) -> Path | None:
    base = (source.parent / target).resolve()
    for candidate in (base, base.with_name(base.name + ".nf"), base / "main.nf"):
        if candidate.is_file() and candidate.suffix == ".nf":
            return candidate
    return None


_PARSED: dict[str, object] = {}  # file content -> reftrace result (copies of a pipeline share most files)


def parse(path: Path):
    """reftrace's parse of ``path`` (a Module or a ParseError), reused for files with the same content."""
    key = hashlib.sha256(path.read_bytes()).hexdigest()
    if key not in _PARSED:
        _PARSED[key] = reftrace.Module.from_file(str(path))
    return _PARSED[key]


def check(root: Path) -> list[str]:
    root = root.resolve()
    problems: list[str] = []
    rel = lambda p: str(Path(p).resolve().relative_to(root))  # noqa: E731

    config = nfconfig.load_config(root / "nextflow.config")
    plugins = {p.split("@")[0] for p in config.get("plugins", [])}
    labels = {k.split(":", 1)[1] for k in config.get("process", {}) if k.startswith("withLabel:")}
    selectors = [k.split(":", 1)[1] for k in config.get("process", {}) if k.startswith("withName:")]

    modules: dict[Path, reftrace.Module] = {}
    for path in nf_files(root):
        parsed = parse(path)
        if isinstance(parsed, reftrace.ParseError):
            problems.append(f"{rel(path)}:0: does not parse: {parsed.error}")
            continue
        modules[path.resolve()] = parsed

    defined: dict[Path, set[str]] = {}
    for path, module in modules.items():
        names = {p.name for p in module.processes} | {w.name for w in module.workflows if w.name}
        names |= set(FUNCTION.findall(path.read_text()))
        defined[path] = names

    included: set[str] = set()
    for path, module in modules.items():
        for inc in module.includes:
            if inc.from_module.startswith("plugin/"):
                plugin = inc.from_module.split("/", 1)[1]
                if plugin not in plugins:
                    problems.append(f"{rel(path)}:{inc.line}: includes from {inc.from_module}, a plugin nextflow.config does not load")
                continue
            target = resolve_include(path, inc.from_module)
            if target is None:
                problems.append(f"{rel(path)}:{inc.line}: include from '{inc.from_module}': no such file")
                continue
            for item in inc.items:
                included.add(item.name)
                if item.name not in defined.get(target, set()):
                    problems.append(
                        f"{rel(path)}:{inc.line}: include {{ {item.name} }} from '{inc.from_module}': "
                        f"{rel(target)} defines no process, workflow or function named {item.name}"
                    )

    bin_dir = root / "bin"
    all_processes: set[str] = set()
    for path, module in modules.items():
        text = path.read_text()
        secs = sections(text)
        for process in module.processes:
            all_processes.add(process.name)
            where = f"{rel(path)}:{process.line}: process {process.name}"
            if not process.tags:
                problems.append(f"{where} has no tag")
            if not process.labels:
                problems.append(f"{where} has no label")
            for label in process.labels:
                value = label.value if hasattr(label, "value") else str(label._value)
                name = re.sub(r'^label:\s*"?|"$', "", str(value)).strip('"\' ')
                if name not in labels:
                    problems.append(f"{rel(path)}:{label.line}: label '{name}' is not defined in conf/base.config")
            if "stub" not in secs:
                problems.append(f"{where} has no stub: block")
            output_line, output = secs.get("output", (process.line, ""))
            versions = [line for line in output.splitlines() if re.search(r"emit:\s*versions\w*", line)]
            if not versions:
                problems.append(f"{rel(path)}:{output_line}: process {process.name} has no versions output (emit: versions...)")
            elif process.name not in TOPIC_READERS and not any(re.search(r"topic:\s*versions\b", v) for v in versions):
                problems.append(f"{rel(path)}:{output_line}: process {process.name}: versions output is not on the 'versions' topic")
            script_line, script = secs.get("script", (process.line, ""))
            if "script" not in secs:
                problems.append(f"{where} has no script: block")
            calls = BIN_CALL.findall(script)
            if "script" in secs and not calls:
                problems.append(f"{rel(path)}:{script_line}: process {process.name}: script calls no bin/crossomics_*.py script")
            for call in calls:
                target = bin_dir / call
                if not target.is_file():
                    problems.append(f"{rel(path)}:{script_line}: process {process.name} calls bin/{call}, which does not exist")
                elif not target.stat().st_mode & 0o111:
                    problems.append(f"{rel(path)}:{script_line}: process {process.name} calls bin/{call}, which is not executable")
            if path.is_relative_to(root / "modules"):
                for number, line in enumerate(text.splitlines(), start=1):
                    if re.search(r"\bparams\.", line.split("//")[0]):
                        problems.append(f"{rel(path)}:{number}: module reads params; pass options through task.ext.args (conf/modules.config)")
                folder = path.parent
                if folder.name != process.name.lower():
                    problems.append(f"{where} lives in {rel(folder)}/, expected modules/local/{process.name.lower()}/")
                for needed in ("meta.yml", "tests/main.nf.test"):
                    if not (folder / needed).is_file():
                        problems.append(f"{where}: {rel(folder)}/{needed} is missing")
                if process.name not in included:
                    problems.append(f"{where} is never included by a workflow")

    for selector in selectors:
        if selector not in all_processes:
            problems.append(f"conf/modules.config:0: withName '{selector}' names no process")
    return problems


def main(argv: list[str]) -> int:
    if argv[:1] == ["--json"]:
        import json

        print(json.dumps({root: check(Path(root)) for root in argv[1:]}))
        return 0
    root = Path(argv[0]) if argv else Path.cwd()
    problems = check(root)
    for p in problems:
        print(p)
    n_files = len(nf_files(root.resolve()))
    print(f"structure: {n_files} .nf files, {len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
