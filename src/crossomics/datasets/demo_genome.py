"""The demo's fake mouse-like genome: gene symbols, gene placement on chr1..chr5 (+ chrM), peaks and a GTF.

Gene names are real mouse immune symbols for the programs that matter (cell-type markers, an interferon-like
regulatory program, surface proteins) plus generated filler symbols in mouse style (``Tmem41``,
``Slc7a12``, ``Gm20483``, ``4930512B07Rik``). Coordinates are invented.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._keys import KEYS

CHROMOSOMES = {
    "chr1": 60_000_000,
    "chr2": 50_000_000,
    "chr3": 45_000_000,
    "chr4": 40_000_000,
    "chr5": 35_000_000,
}
MITO_CHROM = "chrM"
MITO_GENES = ("mt-Nd1", "mt-Nd2", "mt-Co1", "mt-Co2", "mt-Atp6", "mt-Co3", "mt-Nd4", "mt-Cytb")

MARKERS = {
    "CD4 T": (
        "Cd3e",
        "Cd3d",
        "Cd3g",
        "Cd4",
        "Il7r",
        "Cd28",
        "Lef1",
        "Tcf7",
        "Ccr7",
        "Cd40lg",
        "Icos",
        "Trat1",
    ),
    "CD8 T": (
        "Cd3e",
        "Cd3d",
        "Cd3g",
        "Cd8a",
        "Cd8b1",
        "Gzmk",
        "Ccl5",
        "Cd27",
        "Eomes",
        "Cxcr3",
        "Lag3",
        "Sell",
    ),
    "B": (
        "Cd19",
        "Ms4a1",
        "Cd79a",
        "Cd79b",
        "Pax5",
        "Ebf1",
        "Ighm",
        "Cd74",
        "H2-Ab1",
        "H2-Aa",
        "Fcer2a",
        "Bank1",
    ),
    "NK": (
        "Nkg7",
        "Gzma",
        "Gzmb",
        "Prf1",
        "Klrb1c",
        "Ncr1",
        "Klrd1",
        "Klrk1",
        "Il2rb",
        "Xcl1",
        "Ctsw",
        "Fcgr3",
    ),
    "Monocyte": (
        "Lyz2",
        "Cd14",
        "Itgam",
        "Csf1r",
        "Ly6c2",
        "S100a8",
        "S100a9",
        "Ccr2",
        "Cx3cr1",
        "Ms4a7",
        "Fcgr1",
        "Cd68",
    ),
}
DRIVER = "Irf7"
TARGETS = (
    "Isg15", "Ifit1", "Ifit3", "Ifit2", "Rsad2", "Oasl1", "Oas1a", "Mx1", "Bst2", "Usp18",
    "Ifi44", "Stat1", "Stat2", "Irf9", "Ly6a", "Ifitm3", "Zbp1", "Xaf1", "Rtp4", "Slfn5",
)  # fmt: skip
HOUSEKEEPING = (
    "Actb",
    "Gapdh",
    "B2m",
    "Tmsb4x",
    "Malat1",
    "Eef1a1",
    "Ptprc",
    "Rpl13",
    "Rps27",
    "Ftl1",
    "Tpt1",
)
# surface protein (ADT) -> gene; the isotype control maps to no gene
PROTEINS = {
    "CD3": "Cd3e", "CD4": "Cd4", "CD8a": "Cd8a", "CD27": "Cd27", "CD28": "Cd28", "CD127": "Il7r",
    "CD62L": "Sell", "CD19": "Cd19", "CD79b": "Cd79b", "IgM": "Ighm", "MHC-II": "H2-Ab1", "NK1.1": "Klrb1c",
    "NKp46": "Ncr1", "CD122": "Il2rb", "CD14": "Cd14", "CD11b": "Itgam", "Ly-6C": "Ly6c2", "CD115": "Csf1r",
    "CD16/32": "Fcgr3", "CD45": "Ptprc", "Sca-1": "Ly6a", "CD317": "Bst2", "IgG2a-isotype": "",
}  # fmt: skip

_STEMS = (
    "Tmem",
    "Zfp",
    "Ccdc",
    "Ankrd",
    "Lrrc",
    "Kif",
    "Rnf",
    "Wdr",
    "Dnajc",
    "Ppp1r",
    "Usp",
    "Trim",
    "Cep",
    "Mrpl",
)


@dataclass(frozen=True)
class DemoGenome:
    """Genes (name, id, chrom, start, end, strand; 0-based half-open) and peaks with the gene each serves.

    ``peaks`` columns: ``chrom``, ``chromStart``, ``chromEnd``, ``peak_gene``, ``peak_type``
    (promoter / body / distal) and ``link`` (how strongly the peak follows its gene's program, 0 = not).
    """

    genes: pd.DataFrame
    peaks: pd.DataFrame


def curated_genes() -> list[str]:
    """Named genes in a fixed order: markers, driver, targets, housekeeping, protein genes (no duplicates)."""
    named = [g for program in MARKERS.values() for g in program]
    named += [DRIVER, *TARGETS, *HOUSEKEEPING, *(g for g in PROTEINS.values() if g)]
    return list(dict.fromkeys(named))


def filler_symbols(n: int, rng: np.random.Generator, taken: set[str]) -> list[str]:
    """``n`` unique, mouse-style symbols not in ``taken``."""
    out: list[str] = []
    seen = set(taken)
    while len(out) < n:
        kind = rng.integers(5)
        if kind == 0:
            name = f"Gm{rng.integers(1000, 50000)}"
        elif kind == 1:
            name = f"Slc{rng.integers(1, 45)}a{rng.integers(1, 14)}"
        elif kind == 2:
            name = f"{rng.integers(1110, 9931)}{chr(65 + rng.integers(17))}{rng.integers(1, 25):02d}Rik"
        else:
            name = f"{_STEMS[rng.integers(len(_STEMS))]}{rng.integers(1, 80)}"
        if name not in seen:
            seen.add(name)
            out.append(name)
    return out


def _place_genes(names: list[str], rng: np.random.Generator) -> pd.DataFrame:
    """Spread genes over the chromosomes without overlaps; gene lengths log-normal around 20 kb."""
    order = rng.permutation(len(names))
    lengths = np.clip(rng.lognormal(np.log(20_000), 0.8, len(names)), 2_000, 150_000).astype(np.int64)
    sizes = np.array(list(CHROMOSOMES.values()), dtype=np.float64)
    chrom_of = rng.choice(len(CHROMOSOMES), size=len(names), p=sizes / sizes.sum())
    rows = []
    for c, (chrom, size) in enumerate(CHROMOSOMES.items()):
        members = order[chrom_of[order] == c]
        free = size - lengths[members].sum() - 20_000 * (len(members) + 1)
        gaps = 20_000 + (rng.dirichlet(np.ones(len(members) + 1)) * free).astype(np.int64)
        start = 0
        for gene, gap in zip(members, gaps[:-1], strict=True):
            start += gap
            rows.append(
                (names[gene], chrom, start, start + lengths[gene], "+" if rng.random() < 0.5 else "-")
            )
            start += lengths[gene]
    genes = pd.DataFrame(rows, columns=["gene_name", "chrom", "start", "end", "strand"])
    mito_start = np.arange(len(MITO_GENES)) * 1_900 + 1_000
    mito = pd.DataFrame(
        {
            "gene_name": MITO_GENES,
            "chrom": MITO_CHROM,
            "start": mito_start,
            "end": mito_start + 1_500,
            "strand": "+",
        }
    )
    return pd.concat([genes, mito], ignore_index=True)


def _peaks(genes: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Promoter peaks (most genes), 0-3 gene-body peaks and an optional distal upstream peak per gene."""
    rows = []
    for g in genes[genes["chrom"] != MITO_CHROM].itertuples(index=False):
        tss = g.start if g.strand == "+" else g.end
        upstream = -1 if g.strand == "+" else 1
        if rng.random() < 0.85:
            rows.append((g.chrom, tss - 250, tss + 250, g.gene_name, "promoter", 1.5))
        for _ in range(min(rng.poisson(0.8), 3)):
            mid = int(rng.integers(g.start + 1_000, max(g.end - 300, g.start + 1_001)))
            rows.append((g.chrom, mid - 200, mid + 200, g.gene_name, "body", 1.0))
        if rng.random() < 0.5:
            mid = tss + upstream * int(rng.integers(3_000, 15_000))
            rows.append(
                (g.chrom, mid - 250, mid + 250, g.gene_name, "distal", 0.6 if rng.random() < 0.5 else 0.0)
            )
    peaks = pd.DataFrame(
        rows, columns=[KEYS.chrom, KEYS.chrom_start, KEYS.chrom_end, "peak_gene", "peak_type", "link"]
    )
    peaks = peaks.sort_values([KEYS.chrom, KEYS.chrom_start], kind="stable", ignore_index=True)
    same_chrom = peaks[KEYS.chrom].eq(peaks[KEYS.chrom].shift())
    overlaps = same_chrom & (peaks[KEYS.chrom_start] < peaks[KEYS.chrom_end].shift())
    peaks = peaks[~overlaps].reset_index(drop=True)
    peaks.index = (
        peaks[KEYS.chrom]
        + ":"
        + peaks[KEYS.chrom_start].astype(str)
        + "-"
        + peaks[KEYS.chrom_end].astype(str)
    )
    return peaks


def make_genome(n_genes: int, rng: np.random.Generator) -> DemoGenome:
    """A genome of ``n_genes`` genes (curated ones first, then filler; mitochondrial genes included)."""
    curated = curated_genes()
    nuclear = n_genes - len(MITO_GENES)
    names = curated + filler_symbols(nuclear - len(curated), rng, set(curated) | set(MITO_GENES))
    genes = _place_genes(names, rng)
    genes["gene_id"] = [f"DEMO{i:06d}" for i in range(1, len(genes) + 1)]
    genes = genes.set_index("gene_name", drop=False)
    genes.index.name = None
    return DemoGenome(genes=genes, peaks=_peaks(genes, rng))


def gtf_text(genes: pd.DataFrame, *, seed: int) -> str:
    """GTF ``gene`` records (1-based closed coordinates) with ``gene_id`` and ``gene_name``."""
    ordered = genes.sort_values(["chrom", "start"], kind="stable")
    lines = [f"##description: crossomics demo genome (simulated, seed {seed}); not a real assembly"]
    lines += [
        f"{g.chrom}\tcrossomics_demo\tgene\t{g.start + 1}\t{g.end}\t.\t{g.strand}\t.\t"
        f'gene_id "{g.gene_id}"; gene_name "{g.gene_name}"; gene_biotype "protein_coding";'
        for g in ordered.itertuples(index=False)
    ]
    return "\n".join(lines) + "\n"


def gmt_text(gene_sets: dict[str, list[str]], descriptions: dict[str, str]) -> str:
    """GMT lines: name, description, genes (tab-separated)."""
    return "".join(
        f"{name}\t{descriptions[name]}\t" + "\t".join(genes) + "\n" for name, genes in gene_sets.items()
    )
