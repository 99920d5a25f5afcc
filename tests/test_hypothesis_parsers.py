"""Property tests of the parsers of user text not already covered in test_samplesheet.py / test_readers.py.

Those files check: a QUOTE_ALL + BOM + CRLF sheet round-trips, any text gives rows or an InputError, formatted
peaks parse back, junk peak names parse or raise. Here: every CSV dialect of one sheet gives the same rows,
problems are attributed to the right rows, the schema's sample pattern equals the Python rule on any text,
a safe sample id keeps every output inside --outdir, and the GMT and annotation readers never crash.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crossomics.errors import InputError
from crossomics.io.layout import Layout
from crossomics.io.peaks import parse_peak_names, split_peak_names
from crossomics.io.samplesheet import check_samplesheet, read_samplesheet, sample_id_problem
from crossomics.priors.annotation import read_annotation
from crossomics.priors.gene_sets import read_gmt

REPO = Path(__file__).resolve().parents[1]
SAMPLE_PATTERN = re.compile(
    json.loads((REPO / "assets" / "schema_input.json").read_text())["items"]["properties"]["sample"][
        "pattern"
    ]
)
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

_ID = st.text(alphabet="abcXYZ019._-", min_size=1, max_size=12).filter(lambda s: sample_id_problem(s) is None)
_PLAIN = st.text(alphabet="abcxyz019 ._-/", max_size=10).map(str.strip)
_ANY_ID = st.one_of(
    st.text(max_size=20),
    st.text(alphabet="ab./\\ $;`|&*?~'\"\n\t\x00é", max_size=8),
    st.sampled_from(["..", ".", "../x", "a/../b", "~", "-", "a\nb", "x" * 101]),
)


def _write(tmp: Path, text: str, name: str = "s.csv") -> Path:
    path = tmp / name
    path.write_bytes(text.encode("utf-8"))
    return path


@PROPS
@given(
    rows=st.lists(st.tuples(_ID, _PLAIN, _PLAIN), min_size=2, max_size=5, unique_by=lambda r: r[0].lower()),
    bom=st.booleans(),
    newline=st.sampled_from(["\n", "\r\n"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]),
    trailing=st.integers(0, 3),
    blank_lines=st.booleans(),
)
def test_every_csv_dialect_of_a_sheet_gives_the_same_rows(
    tmp_path_factory, rows, bom, newline, quoting, trailing, blank_lines
):
    def text(plain: bool) -> str:
        buffer = io.StringIO()
        writer = csv.writer(
            buffer, quoting=csv.QUOTE_MINIMAL if plain else quoting, lineterminator="\n" if plain else newline
        )
        extra = [] if plain else [""] * trailing
        writer.writerow(["sample", "modality", "file", "batch", "condition", *extra])
        for i, (sample, batch, condition) in enumerate(rows):
            writer.writerow([sample, ("rna", "atac")[i % 2], f"d/{sample}.h5ad", batch, condition, *extra])
            if blank_lines and not plain:
                buffer.write(newline)
        return ("\ufeff" if bom and not plain else "") + buffer.getvalue()

    tmp = tmp_path_factory.mktemp("dialect")
    plain = read_samplesheet(_write(tmp, text(plain=True), "plain.csv"))
    other = read_samplesheet(_write(tmp, text(plain=False), "other.csv"))
    assert other == plain
    assert [r.sample for r in plain] == [r[0] for r in rows]
    assert [r.batch for r in plain] == [r[1] or None for r in rows]
    assert [r.row for r in plain] == list(range(1, len(rows) + 1))  # blank lines are not counted


_BREAKS = {
    "modality": ("rnaa", "column 'modality'"),
    "file": ("", "column 'file'"),
    "sample": ("bad id", "column 'sample'"),
    "allow_non_counts": ("maybe", "column 'allow_non_counts'"),
}


@PROPS
@given(
    n_rows=st.integers(2, 6),
    broken=st.dictionaries(st.integers(0, 5), st.sampled_from(sorted(_BREAKS)), max_size=4),
    crlf=st.booleans(),
)
def test_each_problem_names_its_own_row_and_column(tmp_path_factory, n_rows, broken, crlf):
    broken = {i: col for i, col in broken.items() if i < n_rows}
    lines = ["sample,modality,file,allow_non_counts"]
    for i in range(n_rows):
        values = {
            "sample": f"s{i}",
            "modality": ("rna", "atac")[i % 2],
            "file": f"s{i}.h5ad",
            "allow_non_counts": "",
        }
        if i in broken:
            values[broken[i]] = _BREAKS[broken[i]][0] + (str(i) if broken[i] == "sample" else "")
        lines.append(",".join(values[c] for c in ("sample", "modality", "file", "allow_non_counts")))
    path = _write(tmp_path_factory.mktemp("rows"), ("\r\n" if crlf else "\n").join(lines) + "\n")
    problems = check_samplesheet(path).problems
    row_problems = [p for p in problems if re.search(r" row \d+ \(line \d+\), column ", p)]
    assert len(row_problems) == len(broken)
    for i, col in broken.items():
        assert any(f"row {i + 1} (line {i + 2}), {_BREAKS[col][1]}" in p for p in row_problems), (
            i,
            col,
            problems,
        )
    if not broken:
        assert read_samplesheet(path)


@PROPS
@given(_ANY_ID)
def test_schema_sample_pattern_equals_the_python_rule_on_any_text(sample):
    assert bool(SAMPLE_PATTERN.fullmatch(sample)) == (sample_id_problem(sample) is None)


@PROPS
@given(sample=_ANY_ID, other=_ID)
def test_a_sample_id_either_names_files_inside_outdir_or_is_refused(tmp_path_factory, sample, other):
    outdir = tmp_path_factory.mktemp("layout") / "results"
    layout = Layout(outdir)
    paths = [
        lambda s: layout.qc_h5ad(s),
        lambda s: layout.qc_json(s),
        lambda s: layout.preprocessed(s),
        lambda s: layout.gene_activity(s),
        lambda s: layout.gene_sets(s),
        lambda s: layout.latent(s),
        lambda s: layout.anchors(s, other),
        lambda s: layout.anchors(other, s),
    ]
    if sample_id_problem(sample) is None:
        for path_of in paths:
            path = path_of(sample).resolve()
            assert path.parent.parent == outdir.resolve() and sample in path.name
    else:
        for path_of in paths:
            with pytest.raises(InputError, match="Output files under"):
                path_of(sample)
        assert not outdir.exists()  # refused before any folder was made


_COORD = st.integers(0, 10**9)
_CONTIG = st.text(alphabet="chrXYMUnGLK0123456789_.-", min_size=1, max_size=15)


@PROPS
@given(
    st.lists(
        st.one_of(
            st.text(max_size=25),
            st.builds(
                lambda c, a, b, s: f"{c}{s[0]}{a}{s[1]}{b}",
                _CONTIG,
                _COORD,
                _COORD,
                st.sampled_from([":-", "__", "--", ":_", "_-"]),
            ),
        ),
        max_size=8,
    )
)
def test_peak_names_split_consistently(names):
    coords, bad = split_peak_names(names)
    assert list(coords.index) == [str(n) for n in names]
    parsed = coords["chrom"].notna().to_numpy()
    assert bad == [str(n) for n, ok in zip(names, parsed, strict=True) if not ok]
    good = coords[parsed]
    assert (good["chromStart"] <= good["chromEnd"]).all() and (good["chromStart"] >= 0).all()
    for name, row in good.iterrows():  # the coordinates are the trailing numbers of the name
        assert str(name).startswith(row["chrom"]) and str(name).endswith(str(row["chromEnd"]))
    if bad:
        with pytest.raises(InputError, match="not peaks"):
            parse_peak_names(names, where="x.h5ad")
    else:
        assert parse_peak_names(names).shape == (len(names), 3)


_FIELD = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\t\r\n"), max_size=8
)


@PROPS
@given(
    lines=st.lists(st.one_of(st.lists(_FIELD, max_size=6).map("\t".join), st.text(max_size=30)), max_size=6),
    newline=st.sampled_from(["\n", "\r\n"]),
)
def test_gmt_text_gives_gene_sets_or_an_input_error(tmp_path_factory, lines, newline):
    path = _write(tmp_path_factory.mktemp("gmt"), newline.join(lines) + newline, "sets.gmt")
    try:
        sets = read_gmt(path)
    except InputError as err:
        assert str(path) in str(err)
        return
    expected = {}
    for line in path.open(encoding="utf-8"):  # lines as the reader sees them (universal newlines)
        line = line.rstrip("\r\n")
        fields = [f.strip() for f in line.split("\t")]
        genes = [g for g in fields[2:] if g]
        if line.strip() and not line.startswith("#") and fields[0] and genes and fields[0] not in expected:
            expected[fields[0]] = list(dict.fromkeys(genes))
    assert sets == expected


_GTF_LINE = st.builds(
    lambda chrom, feature, start, length, strand, name: (
        f'{chrom}\tsrc\t{feature}\t{start}\t{start + length}\t.\t{strand}\t.\tgene_id "{name}"; gene_name "{name}";'
    ),
    st.sampled_from(["chr1", "2", "chrX"]),
    st.sampled_from(["gene", "exon", "CDS", "transcript"]),
    st.integers(1, 10**6),
    st.integers(0, 10**4),
    st.sampled_from(["+", "-", "."]),
    st.text(alphabet="ABCxyz12-", min_size=1, max_size=6),
)


@PROPS
@given(
    lines=st.lists(st.one_of(_GTF_LINE, st.text(max_size=40)), max_size=6),
    suffix=st.sampled_from([".gtf", ".bed"]),
)
def test_annotation_text_gives_genes_or_an_input_error(tmp_path_factory, lines, suffix):
    path = _write(tmp_path_factory.mktemp("annotation"), "\n".join(lines) + "\n", f"genes{suffix}")
    try:
        genes = read_annotation(path)
    except InputError as err:
        assert str(path) in str(err)
    else:
        assert list(genes.columns) == ["chrom", "start", "end", "strand", "gene_name", "gene_id"]
        assert (genes["start"] <= genes["end"]).all() and len(genes) > 0
