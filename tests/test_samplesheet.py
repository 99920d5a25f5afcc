"""Samplesheet parsing and checks: all problems at once, with row, column and fix; the JSON schema agrees."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossomics.errors import InputError
from crossomics.io.samplesheet import (
    SampleRow,
    check_samplesheet,
    read_samplesheet,
    sample_id_problem,
    write_samplesheet,
)

REPO = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((REPO / "assets" / "schema_input.json").read_text())
HEADER = "sample,modality,file"
GOOD = f"{HEADER}\nr1,rna,data/r1.h5ad\na1,atac,/abs/a1.h5ad\n"


def sheet(tmp_path: Path, text: str | bytes, name: str = "samples.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def problems(tmp_path: Path, text: str) -> str:
    with pytest.raises(InputError) as err:
        read_samplesheet(sheet(tmp_path, text))
    return str(err.value)


def test_good_sheet_resolves_relative_paths_against_its_folder(tmp_path):
    text = (
        "sample,modality,file,batch,condition,genome,mudata_key,allow_non_counts\n"
        "r1,RNA,data/r1.h5ad,b1,ctrl,mm10,,false\n"
        "a1,atac,/abs/../abs/a1.h5mu,,,mm10,atac,TRUE\n"
        "m1,methylation,../m1.h5ad,,,,,\n"
    )
    rows = read_samplesheet(sheet(tmp_path, text))
    assert rows[0] == SampleRow(
        "r1", "rna", tmp_path / "data" / "r1.h5ad", "b1", "ctrl", "mm10", None, False, 1
    )
    assert rows[1] == SampleRow("a1", "atac", Path("/abs/a1.h5mu"), None, None, "mm10", "atac", True, 2)
    assert rows[2].file == tmp_path.parent / "m1.h5ad" and rows[2].modality == "methylation"


def test_bom_crlf_quotes_trailing_commas_and_blank_lines(tmp_path):
    text = (
        "\ufeffsample,modality,file,condition,,\r\n\r\n"
        'r1,rna,"data/a, b.h5ad","treated, 2h",,\r\n'
        'a1,"atac",a1.h5ad,,,\r\n'
    )
    rows = read_samplesheet(sheet(tmp_path, text))
    assert [r.sample for r in rows] == ["r1", "a1"] and [r.row for r in rows] == [1, 2]
    assert rows[0].file.name == "a, b.h5ad" and rows[0].condition == "treated, 2h"


def test_tsv_sheet_is_tab_separated(tmp_path):
    rows = read_samplesheet(sheet(tmp_path, GOOD.replace(",", "\t"), "samples.tsv"))
    assert [r.modality for r in rows] == ["rna", "atac"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "is empty. Fix: start it with the header line 'sample,modality,file'"),
        (" \n\n", "is empty"),
        (f"{HEADER}\n", "has a header but no samples"),
        ("sample,modality\nr1,rna\na1,atac\n", "required column 'file' is missing"),
        (
            f"{HEADER},Batch\nr1,rna,r.h5ad,1\na1,atac,a.h5ad,1\n",
            "unknown column 'Batch'; did you mean 'batch'?",
        ),
        (
            f"{HEADER},colour\nr1,rna,r.h5ad,1\na1,atac,a.h5ad,1\n",
            "unknown column 'colour'; Fix: use only sample",
        ),
        ("sample,,modality,file\nr1,,rna,r.h5ad\na1,,atac,a.h5ad\n", "header, column 2 has no name"),
        (f"{HEADER},file\nr1,rna,r.h5ad,x\na1,atac,a.h5ad,y\n", "column 'file' appears 2 times"),
        (
            f"{HEADER}\nr1,rna,r.h5ad,extra\na1,atac,a.h5ad\n",
            "row 1 (line 2): 4 fields but the header names 3",
        ),
        (f"{HEADER}\nr1,rna,r.h5ad\nr1,atac,a.h5ad\n", "duplicate sample id in row 1 ('r1'), row 2 ('r1')"),
        (f"{HEADER}\nS1,rna,r.h5ad\ns1,atac,a.h5ad\n", "duplicate sample id in row 1 ('S1'), row 2 ('s1')"),
        (
            f"{HEADER}\nr1,rna,r.h5ad\nr2,rna,a.h5ad\n",
            "column 'modality': every sample is 'rna'; integration needs",
        ),
        (f"{HEADER},genome\nr1,rna,r.h5ad,mm10\na1,atac,a.h5ad,hg38\n", "'mm10' in rows 1; 'hg38' in rows 2"),
        (f"{HEADER}\nr1,rna,\na1,atac,a.h5ad\n", "row 1 (line 2), column 'file': the file path is empty"),
        (f"{HEADER}\nr1,rna,https://x.org/r.h5ad\na1,atac,a.h5ad\n", "is a URL; only local files are read"),
        (
            f"{HEADER},allow_non_counts\nr1,rna,r.h5ad,yes\na1,atac,a.h5ad,\n",
            "'allow_non_counts': 'yes' is not true/false",
        ),
        (
            f"{HEADER},mudata_key\nr1,rna,r.h5ad,rna\na1,atac,a.h5ad,\n",
            "'mudata_key': 'rna' is set but file 'r.h5ad' is not",
        ),
        (f"{HEADER}\nr1,,r.h5ad\na1,atac,a.h5ad\n", "column 'modality': the modality is empty"),
    ],
)
def test_sheet_problem(tmp_path, text, needle):
    message = problems(tmp_path, text)
    assert needle in message
    assert str(tmp_path / "samples.csv") in message and "Fix:" in message


@pytest.mark.parametrize(
    "sample",
    [
        "a/b",
        "..",
        "../x",
        "a..b",
        ".hidden",
        "a b",
        "a;rm -rf",
        "$(id)",
        "a`b`",
        "a|b",
        "a*",
        "é",
        "",
        "x" * 101,
    ],
)
def test_unsafe_sample_ids_are_rejected(tmp_path, sample):
    message = problems(tmp_path, f'{HEADER}\n"{sample}",rna,r.h5ad\na1,atac,a.h5ad\n')
    assert "row 1 (line 2), column 'sample'" in message and "letters, digits" in message


@pytest.mark.parametrize(
    ("modality", "nearest"),
    [
        ("rnaa", "rna"),
        ("scRNA-seq", "rna"),
        ("ATAC-seq", "atac"),
        ("snatac", "atac"),
        ("atca", "atac"),
        ("adts", "adt"),
    ],
)
def test_near_miss_modality_suggests_the_known_one(tmp_path, modality, nearest):
    message = problems(tmp_path, f"{HEADER}\nr1,{modality},r.h5ad\na1,atac,a.h5ad\n")
    assert f"column 'modality': '{modality}' is not a known modality; did you mean '{nearest}'?" in message


@pytest.mark.parametrize("modality", ["methylation", "dna", "cna", "protein", "hto", "mirna", "met_cpg2"])
def test_clearly_different_modalities_are_generic(tmp_path, modality):
    rows = read_samplesheet(sheet(tmp_path, f"{HEADER}\nr1,{modality},r.h5ad\na1,atac,a.h5ad\n"))
    assert rows[0].modality == modality


def test_invalid_modality_characters(tmp_path):
    assert "is not a valid modality name" in problems(
        tmp_path, f"{HEADER}\nr1,rna velocity,r.h5ad\na1,atac,a.h5ad\n"
    )


def test_all_problems_are_reported_together_and_usable_rows_are_kept(tmp_path):
    text = f"{HEADER},colr\nbad id,rnaa,r.h5ad,\nr1,rna,,\nr1,atac,a.h5ad,\n"
    check = check_samplesheet(sheet(tmp_path, text))
    joined = "\n".join(check.problems)
    for needle in ("unknown column 'colr'", "'bad id' contains", "did you mean 'rna'", "file path is empty"):
        assert needle in joined
    assert [r.row for r in check.rows] == [1, 3]
    message = problems(tmp_path, text)
    assert message.startswith(f"samplesheet {tmp_path / 'samples.csv'} has 4 problems:")


def test_unreadable_sheets(tmp_path):
    with pytest.raises(InputError, match=r"samplesheet .*nope\.csv does not exist"):
        read_samplesheet(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="is a folder, not a file"):
        read_samplesheet(tmp_path)
    with pytest.raises(InputError, match=r"is not UTF-8 text \(invalid byte at offset 0\)"):
        read_samplesheet(sheet(tmp_path, b"\x89HDF\r\n"))


def test_write_then_read_gives_the_same_rows(tmp_path):
    rows = read_samplesheet(
        sheet(
            tmp_path, f"{HEADER},batch,allow_non_counts\n" + 'r1,rna,"x, y.h5ad",b 1,true\na1,atac,a.h5ad,,\n'
        )
    )
    out = write_samplesheet(rows, tmp_path / "out" / "validated.csv")
    assert read_samplesheet(out) == rows
    assert all(Path(r["file"]).is_absolute() for r in csv.DictReader(out.open()))


_ID = st.text(alphabet="abcXYZ019._-", min_size=1, max_size=12).filter(lambda s: sample_id_problem(s) is None)
_VALUE = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=10).map(str.strip)


@settings(max_examples=100, deadline=None)
@given(
    ids=st.lists(_ID, min_size=2, max_size=4, unique_by=str.lower),
    batches=st.lists(_VALUE, min_size=4, max_size=4),
)
def test_any_quoted_sheet_round_trips(tmp_path_factory, ids, batches):
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(["sample", "modality", "file", "batch"])
    for i, (sample, batch) in enumerate(zip(ids, batches[: len(ids)], strict=True)):
        writer.writerow([sample, ("rna", "atac")[i % 2], f"{sample}.h5ad", batch])
    rows = read_samplesheet(sheet(tmp_path_factory.mktemp("s"), "\ufeff" + buffer.getvalue()))
    assert [r.sample for r in rows] == ids
    assert [r.batch for r in rows] == [b or None for b in batches[: len(ids)]]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gives_rows_or_an_input_error(tmp_path_factory, text):
    path = sheet(tmp_path_factory.mktemp("s"), text)
    try:
        rows = read_samplesheet(path)
    except InputError as err:
        assert str(path) in str(err)
    else:
        assert len({r.modality for r in rows}) >= 2


def test_schema_is_valid_and_its_sample_pattern_matches_the_python_rule():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    items = SCHEMA["items"]
    assert items["required"] == ["sample", "modality", "file"]
    pattern = re.compile(items["properties"]["sample"]["pattern"])
    for sample in [
        "s1",
        "a.b_c-d",
        "-x",
        "1",
        "a/b",
        "..",
        "a..b",
        ".h",
        "a b",
        "$x",
        "é",
        "",
        "x" * 100,
        "x" * 101,
    ]:
        assert bool(pattern.fullmatch(sample)) == (sample_id_problem(sample) is None), sample
    validator = jsonschema.Draft202012Validator(SCHEMA)
    good = [
        {"sample": "r1", "modality": "rna", "file": "r.h5ad"},
        {"sample": "a1", "modality": "atac", "file": "a"},
    ]
    assert not list(validator.iter_errors(good))
    assert list(validator.iter_errors([{"sample": "a/b", "modality": "rna", "file": "r"}, good[1]]))
