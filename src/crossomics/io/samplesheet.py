"""The samplesheet (nf-core style CSV): one row per sample file, checked as a whole before any work starts.

Columns: ``sample``, ``modality``, ``file`` (required); ``batch``, ``condition``, ``genome``, ``mudata_key``,
``allow_non_counts`` (optional). :func:`check_samplesheet` collects every problem; :func:`read_samplesheet`
raises one :class:`~crossomics.errors.InputError` listing them all.
"""

from __future__ import annotations

import csv
import difflib
import io
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, join_problems
from ._modality import modality_problem
from .write import write_text

REQUIRED = ("sample", "modality", "file")
OPTIONAL = ("batch", "condition", "genome", "mudata_key", "allow_non_counts")
COLUMNS = REQUIRED + OPTIONAL
MAX_SAMPLE_LEN = 100
SAFE_SAMPLE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
BOOLEAN_WORDS = ("true", "false", "")  # as in assets/schema_input.json; empty means false
EXAMPLE_HEADER = ",".join(REQUIRED)


@dataclass(frozen=True)
class SampleRow:
    """One samplesheet row, with ``file`` made absolute (relative paths resolve against the sheet's folder).

    ``row`` is the 1-based data row number (the header is row 0; blank lines are not counted).
    """

    sample: str
    modality: str
    file: Path
    batch: str | None = None
    condition: str | None = None
    genome: str | None = None
    mudata_key: str | None = None
    allow_non_counts: bool = False
    row: int = 0


@dataclass(frozen=True)
class SheetCheck:
    """The rows of a samplesheet and every problem found in it.

    ``rows`` holds one :class:`SampleRow` per data row with a usable ``file`` value (other values of that
    row may still be wrong; the problems say which), so that files can be checked in the same pass.
    """

    path: Path
    rows: list[SampleRow]
    problems: list[str]


def read_samplesheet(path: str | os.PathLike) -> list[SampleRow]:
    """Read and check a samplesheet.

    Parameters
    ----------
    path
        CSV file (a ``.tsv`` file is read tab-separated).

    Returns
    -------
    One :class:`SampleRow` per data row, in file order.

    Raises
    ------
    InputError
        Listing every problem of the sheet at once, each with its row, column and fix.
    """
    check = check_samplesheet(path)
    if len(check.problems) == 1:
        raise InputError(check.problems[0])
    if check.problems:
        raise InputError(
            join_problems(check.problems, f"samplesheet {check.path} has {len(check.problems)} problems:")
        )
    return check.rows


def check_samplesheet(path: str | os.PathLike) -> SheetCheck:
    """Check a samplesheet without raising for problems in its content.

    Returns
    -------
    A :class:`SheetCheck`. An unreadable or empty sheet gives no rows and one problem.
    """
    path = Path(path).expanduser()
    text, problem = _read_text(path)
    if problem:
        return SheetCheck(path, [], [problem])
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records = [(reader.line_num, fields) for fields in reader if any(f.strip() for f in fields)]
    if not records:
        return SheetCheck(
            path, [], [f"{path} is empty. Fix: start it with the header line '{EXAMPLE_HEADER}'."]
        )
    header, header_problems = _check_header(path, records[0][1])
    problems = list(header_problems)
    if not records[1:]:
        problems.append(
            f"{path} has a header but no samples. Fix: add one line per sample file under the header."
        )
    rows: list[SampleRow] = []
    for number, (line, fields) in enumerate(records[1:], start=1):
        where = f"{path} row {number} (line {line})"
        values, row_problems = _row_values(where, header, fields)
        problems += row_problems
        row = _build_row(where, path.parent, number, values, problems)
        if row is not None:
            rows.append(row)
    if not header_problems:
        problems += _sheet_problems(path, rows)
    return SheetCheck(path, rows, problems)


def write_samplesheet(rows: list[SampleRow], path: str | os.PathLike) -> Path:
    """Write ``rows`` as a samplesheet with absolute file paths (atomic)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        extra = [r.batch, r.condition, r.genome, r.mudata_key]
        writer.writerow(
            [r.sample, r.modality, str(r.file), *(v or "" for v in extra), str(r.allow_non_counts).lower()]
        )
    return write_text(buffer.getvalue(), path)


def _read_text(path: Path) -> tuple[str, str | None]:
    fix = "Fix: pass the path of a UTF-8 CSV samplesheet to --input."
    if not path.exists():
        return "", f"samplesheet {path} does not exist. {fix}"
    if path.is_dir():
        return "", f"samplesheet {path} is a folder, not a file. {fix}"
    try:
        return path.read_text(encoding="utf-8-sig"), None
    except UnicodeDecodeError as err:
        return (
            "",
            f"samplesheet {path} is not UTF-8 text (invalid byte at offset {err.start}). {fix}",
        )
    except OSError as err:
        return "", f"samplesheet {path} cannot be read ({err.strerror}). {fix}"


def _check_header(path: Path, fields: list[str]) -> tuple[list[str], list[str]]:
    """Column names (empty trailing names kept as '') and the header's problems."""
    header = [f.strip() for f in fields]
    while header and not header[-1]:
        header.pop()
    problems = []
    for i, name in enumerate(header, start=1):
        if not name:
            problems.append(f"{path} header, column {i} has no name. Fix: name it or delete the column.")
        elif name not in COLUMNS:
            near = difflib.get_close_matches(name.lower(), COLUMNS, n=1, cutoff=0.6)
            hint = f"did you mean '{near[0]}'? " if near else ""
            problems.append(
                f"{path} header, column {i}: unknown column '{name}'; {hint}"
                f"Fix: use only {', '.join(COLUMNS)} (lower case)."
            )
    for name in sorted({n for n in header if n and header.count(n) > 1}):
        problems.append(f"{path} header: column '{name}' appears {header.count(name)} times. Fix: keep one.")
    for name in REQUIRED:
        if name not in header:
            problems.append(
                f"{path} header: required column '{name}' is missing. Fix: add it ({EXAMPLE_HEADER}, ...)."
            )
    return header, problems


def _row_values(where: str, header: list[str], fields: list[str]) -> tuple[dict[str, str], list[str]]:
    """Map column name to stripped value; fields past the header must be empty (trailing commas)."""
    values = {name: (fields[i].strip() if i < len(fields) else "") for i, name in enumerate(header) if name}
    extra = [f for f in fields[len(header) :] if f.strip()]
    problems = []
    if extra:
        problems.append(
            f"{where}: {len(fields)} fields but the header names {len(header)} columns (extra: "
            f"{', '.join(repr(e) for e in extra[:3])}). "
            "Fix: remove the extra values, or quote values that contain commas."
        )
    return values, problems


def _build_row(
    where: str, base: Path, number: int, values: dict[str, str], problems: list[str]
) -> SampleRow | None:
    """Check one row's values (appending problems); return a row when its file value is usable."""
    sample = values.get("sample", "")
    problem = sample_id_problem(sample)
    if problem and "sample" in values:
        problems.append(f"{where}, column 'sample': {problem}")
    raw_modality = values.get("modality", "")
    problem = modality_problem(raw_modality)
    if problem and "modality" in values:
        problems.append(f"{where}, column 'modality': {problem}")
    flag = values.get("allow_non_counts", "").lower()
    if flag not in BOOLEAN_WORDS:
        problems.append(
            f"{where}, column 'allow_non_counts': '{values['allow_non_counts']}' is not true/false. "
            "Fix: write true (values are not counts, e.g. log-normalised) or false (leave empty for false)."
        )
    file_value = values.get("file", "")
    file, problem = _resolve_file(base, file_value)
    if problem and "file" in values:
        problems.append(f"{where}, column 'file': {problem}")
    mudata_key = values.get("mudata_key") or None
    if mudata_key and file is not None and file.suffix.lower() != ".h5mu":
        problems.append(
            f"{where}, column 'mudata_key': '{mudata_key}' is set but file '{file_value}' is not .h5mu. "
            "Fix: leave mudata_key empty, or point file to the .h5mu holding that modality."
        )
    if file is None:
        return None
    return SampleRow(
        sample=sample,
        modality=raw_modality.lower(),
        file=file,
        batch=values.get("batch") or None,
        condition=values.get("condition") or None,
        genome=values.get("genome") or None,
        mudata_key=mudata_key,
        allow_non_counts=flag == "true",
        row=number,
    )


def sample_id_problem(sample: str) -> str | None:
    """Why ``sample`` is not a safe sample id (outputs are named after it), or ``None`` when it is."""
    fix = "Fix: use only letters, digits, '.', '_' and '-', not starting with '.'"
    if not sample:
        return f"the sample id is empty. {fix}."
    bad = sorted(set(sample) - SAFE_SAMPLE_CHARS)
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        return (
            f"sample id '{sample}' contains {shown}, unsafe in a file name. {fix} (e.g. '{_safe(sample)}')."
        )
    if sample.startswith(".") or ".." in sample:
        return f"sample id '{sample}' starts with '.' or contains '..'. {fix}, and no '..'."
    if len(sample) > MAX_SAMPLE_LEN:
        return (
            f"sample id '{sample[:20]}...' is {len(sample)} characters long. {fix}, at most {MAX_SAMPLE_LEN}."
        )
    return None


def _safe(sample: str) -> str:
    return "".join(c if c in SAFE_SAMPLE_CHARS else "_" for c in sample).lstrip(".") or "sample1"


def _resolve_file(base: Path, value: str) -> tuple[Path | None, str | None]:
    if not value:
        return None, "the file path is empty. Fix: give the path of the sample's matrix file or 10x folder."
    if "://" in value:
        return (
            None,
            f"'{value}' is a URL; only local files are read. Fix: download it and give the local path.",
        )
    path = Path(value).expanduser()
    return Path(os.path.normpath(path if path.is_absolute() else base.resolve() / path)), None


def _sheet_problems(path: Path, rows: list[SampleRow]) -> list[str]:
    """Problems across rows: duplicate ids, a single modality, mismatched genomes."""
    problems = []
    by_id: dict[str, list[SampleRow]] = defaultdict(list)
    for r in rows:
        if r.sample:
            by_id[r.sample.lower()].append(r)
    for same in by_id.values():
        if len(same) > 1:
            listed = ", ".join(f"row {r.row} ('{r.sample}')" for r in same)
            problems.append(
                f"{path} column 'sample': duplicate sample id in {listed} (ids must differ ignoring case). "
                "Fix: give every row its own sample id."
            )
    modalities = {r.modality for r in rows if r.modality}
    if len(modalities) == 1:
        problems.append(
            f"{path} column 'modality': every sample is '{modalities.pop()}'; integration needs at least two "
            "modalities. Fix: add rows for the other modality (e.g. rna and atac)."
        )
    genomes: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        if r.genome:
            genomes[r.genome].append(r.row)
    if len(genomes) > 1:
        listed = "; ".join(f"'{g}' in rows {', '.join(map(str, rs))}" for g, rs in genomes.items())
        problems.append(
            f"{path} column 'genome': samples name different genomes ({listed}). "
            "Fix: use one genome build for all samples (lift over the others), or correct the column."
        )
    return problems
