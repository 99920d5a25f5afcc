"""In-silico perturbation through the trained model's deterministic path (encoder means, stored loadings).

A gene (an input feature of one domain) is knocked out, knocked down or over-expressed in the raw counts of
the chosen cells; the perturbed counts are projected with the preprocessing loadings of training (never
re-fitted), smoothed over the neighbours of the *unperturbed* cells, embedded (encoder means, no sampling)
and decoded into every target modality. Unlike scCross's ``perturbation_difGenes``, nothing is re-fitted per
gene and no latent is sampled, so two runs give the same numbers.

Screens are vectorised: the perturbed rows of a block of genes are stacked, projected, encoded and decoded
together. Only cells whose encoder input changes (the perturbed cells and the cells that have one of them
among their smoothing neighbours) are encoded and decoded again; all other cells keep their original
embedding exactly. Blocks depend only on the gene list and the number of cells, so a chunked screen
computes exactly the same blocks as a single run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..errors import InputError
from ..model import CrossModel
from ..model.inputs import reduced_from_counts

MODES = ("ko", "kd", "oe")
DEFAULT_KD_FACTOR = 0.5
DEFAULT_OE_QUANTILE = 0.9
ROWS_PER_BLOCK = 4096  # cells x genes stacked in one vectorised block
DECODE_BATCH = 1024  # rows decoded at once (bounds memory for wide ATAC decoders)
LFC_PSEUDO_FRACTION = 0.01  # log fold change pseudo-count: this fraction of the target's median feature mean
SD_FLOOR_FRACTION = 0.01  # score denominator floor: this fraction of the target's median feature spread


@dataclass(frozen=True)
class Perturbation:
    """What is done to a gene's counts.

    ``ko`` sets them to 0; ``kd`` multiplies them by ``factor`` (0 < factor < 1, default 0.5); ``oe``
    multiplies them by ``factor`` (> 1) when given, otherwise raises each cell's share of the gene (its
    fraction of the cell's counts over the model's input features) to the ``oe_quantile`` of that share
    among the cells that express the gene (cells already above keep their value).
    """

    mode: str = "ko"
    factor: float | None = None
    oe_quantile: float = DEFAULT_OE_QUANTILE

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            msg = f"--mode {self.mode!r} is not a perturbation mode; use one of {', '.join(MODES)}."
            raise InputError(msg)
        problem = None
        if self.mode == "ko" and self.factor is not None:
            problem = "a knock-out sets counts to 0 and takes no --factor; drop --factor or use --mode kd"
        elif self.mode == "kd" and self.factor is not None and not 0 < self.factor < 1:
            problem = f"a knock-down needs 0 < --factor < 1 (got {self.factor}); e.g. --factor 0.5"
        elif self.mode == "oe" and self.factor is not None and not self.factor > 1:
            problem = f"an over-expression needs --factor > 1 (got {self.factor}); e.g. --factor 4"
        if not 0 < self.oe_quantile < 1:
            problem = f"--oe-quantile must lie between 0 and 1 (got {self.oe_quantile})"
        if problem:
            raise InputError(problem + ".")

    def describe(self) -> dict[str, object]:
        factor = DEFAULT_KD_FACTOR if self.mode == "kd" and self.factor is None else self.factor
        quantile = self.oe_quantile if self.mode == "oe" and self.factor is None else None
        return {"mode": self.mode, "factor": factor, "oe_quantile": quantile}

    def apply(self, values: np.ndarray, totals: np.ndarray, target_share: float) -> np.ndarray:
        """New counts of one gene in cells with the given counts and totals (over the input features)."""
        if self.mode == "ko":
            return np.zeros_like(values)
        if self.mode == "kd":
            return values * (DEFAULT_KD_FACTOR if self.factor is None else self.factor)
        if self.factor is not None:
            return values * self.factor
        # share s of the gene after the change: new / (total - old + new) = s
        raised = target_share * (totals - values) / (1.0 - target_share)
        return np.maximum(values, raised)


@dataclass
class GeneResult:
    """Effect of perturbing one gene: moved cells (positions among the focus cells) and decoded moments."""

    gene: str
    n_perturbed: int
    moved: np.ndarray
    z_moved: np.ndarray
    sums: dict[str, np.ndarray] = field(default_factory=dict)
    sumsq: dict[str, np.ndarray] = field(default_factory=dict)


class PerturbationEngine:
    """Original embedding and decoded values of a set of cells, and the effect of perturbing their genes.

    Parameters
    ----------
    model
        A trained :class:`CrossModel`.
    counts
        Cells x the source domain's input features (``preprocess["features"]`` order), raw counts.
    domain
        The source domain id.
    targets
        Target modality -> domain id to decode.
    focus
        Boolean mask of the cells that are perturbed and reported.
    decode_idx
        Positions (among the focus cells) of the cells whose decoded values are averaged.
    reduced
        The cells' reduced representation when it is already known (a preprocessed sample's
        ``obsm["X_reduced"]``, see :func:`crossomics.model.inputs.stored_reduction`); else projected from ``counts``.
    """

    def __init__(
        self,
        model: CrossModel,
        counts: sp.csr_matrix,
        *,
        domain: str,
        targets: dict[str, str],
        focus: np.ndarray,
        decode_idx: np.ndarray,
        perturbation: Perturbation,
        reduced: np.ndarray | None = None,
    ) -> None:
        self.model, self.domain, self.targets, self.perturbation = model, domain, targets, perturbation
        self.params = model.domains[domain].preprocess
        self.counts = sp.csr_matrix(counts, dtype=np.float64)
        self.columns = sp.csc_matrix(self.counts)
        self.totals = np.asarray(self.counts.sum(axis=1)).ravel()
        self.reduced = self._reduce(self.counts) if reduced is None else reduced
        self.graph = model.smoothing_graph(self.reduced)
        self.graph_by_column = None if self.graph is None else sp.csc_matrix(self.graph)
        self.z0 = model.embed_inputs(model.inputs_from_reduced(self.reduced, self.graph), domain)
        self.focus_cells = np.flatnonzero(focus)
        self.position = np.full(counts.shape[0], -1)
        self.position[self.focus_cells] = np.arange(self.focus_cells.size)
        self.decode_idx = np.asarray(decode_idx)
        self.decode_position = np.full(self.focus_cells.size, -1)
        self.decode_position[self.decode_idx] = np.arange(self.decode_idx.size)
        self.base = {}
        for modality, target in targets.items():
            x0 = self._decode(self.z0[self.focus_cells[self.decode_idx]], target)
            x0sq = x0 * x0
            self.base[modality] = (
                x0,
                x0sq,
                x0.sum(axis=0, dtype=np.float64),
                x0sq.sum(axis=0, dtype=np.float64),
            )
        self.share = self._expressing_share_quantile()
        self.genes_per_block = max(1, ROWS_PER_BLOCK // max(1, self.focus_cells.size))

    # ------------------------------------------------------------------ helpers
    def _decode(self, z: np.ndarray, target: str) -> np.ndarray:
        parts = [self.model.decode(z[i : i + DECODE_BATCH], target) for i in range(0, len(z), DECODE_BATCH)]
        width = len(self.model.domains[target].features)
        return np.vstack(parts) if parts else np.zeros((0, width), np.float32)

    def _expressing_share_quantile(self) -> np.ndarray:
        """Per input feature: the over-expression quantile of its share among expressing cells (all cells)."""
        out = np.zeros(self.columns.shape[1])
        if self.perturbation.mode != "oe" or self.perturbation.factor is not None:
            return out
        inv = np.divide(1.0, self.totals, out=np.zeros_like(self.totals), where=self.totals > 0)
        for j in range(self.columns.shape[1]):
            lo, hi = self.columns.indptr[j], self.columns.indptr[j + 1]
            if hi > lo:
                share = self.columns.data[lo:hi] * inv[self.columns.indices[lo:hi]]
                out[j] = np.quantile(share, self.perturbation.oe_quantile)
        return np.minimum(out, 1.0 - 1e-6)

    def blocks(self, gene_columns: list[int]) -> list[list[int]]:
        """Split the screen into fixed blocks (a chunk of a screen is a contiguous run of these blocks)."""
        g = self.genes_per_block
        return [gene_columns[i : i + g] for i in range(0, len(gene_columns), g)]

    def expressing_fraction(self, column: int) -> float:
        col = self.columns[:, column]
        return float((col[self.focus_cells].toarray().ravel() > 0).mean()) if self.focus_cells.size else 0.0

    # ------------------------------------------------------------------ perturbation
    def _perturbed_rows(self, column: int) -> tuple[np.ndarray, np.ndarray]:
        """Focus cells whose count of ``column`` changes, and their new counts."""
        cells = self.focus_cells
        old = self.columns[:, column][cells].toarray().ravel()
        new = self.perturbation.apply(old, self.totals[cells], self.share[column])
        changed = new != old
        return cells[changed], new[changed] - old[changed]

    def run_block(self, columns: list[int], names: list[str]) -> list[GeneResult]:
        """Perturb each gene of a block (separately, all cells at once) and collect its effects."""
        per_gene = [self._perturbed_rows(j) for j in columns]
        cells = np.concatenate([c for c, _ in per_gene]) if per_gene else np.zeros(0, int)
        cols = np.concatenate([np.full(len(c), j) for j, (c, _) in zip(columns, per_gene, strict=True)])
        deltas = np.concatenate([d for _, d in per_gene]) if per_gene else np.zeros(0)
        stacked = self.counts[cells] + sp.csr_matrix(
            (deltas, (np.arange(cells.size), cols)), shape=(cells.size, self.counts.shape[1])
        )
        new_reduced = self._reduce(stacked)
        inputs, owners, moved = [], [], []
        bounds = np.cumsum([0] + [c.size for c, _ in per_gene])
        for k, (changed, _) in enumerate(per_gene):
            rows, x = self._inputs_of_changed(changed, new_reduced[bounds[k] : bounds[k + 1]])
            inputs.append(x)
            owners.append(np.full(rows.size, k))
            moved.append(rows)
        z = self.model.embed_inputs(np.vstack(inputs), self.domain)
        ends = np.cumsum([0] + [r.size for r in moved])
        results = [
            GeneResult(name, int(c.size), rows, z[ends[k] : ends[k + 1]])
            for k, (name, (c, _), rows) in enumerate(zip(names, per_gene, moved, strict=True))
        ]
        self._decoded_moments(results, np.concatenate(owners), z)
        return results

    def _reduce(self, counts: sp.csr_matrix) -> np.ndarray:
        """Reduced representation of counts, :data:`ROWS_PER_BLOCK` rows at a time (rows are independent)."""
        step = ROWS_PER_BLOCK
        parts = [reduced_from_counts(counts[i : i + step], self.params) for i in range(0, counts.shape[0], step)]
        return np.vstack(parts) if parts else np.zeros((0, np.shape(self.params["loadings"])[1]))

    def _inputs_of_changed(self, changed: np.ndarray, red: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Focus cells whose encoder input changes and their new inputs (smoothed over the original graph)."""
        reduced = self.reduced.copy()
        reduced[changed] = red
        if self.graph is None:
            rows, x = changed, reduced[changed]
        else:  # the changed cells and every cell that has one of them among its smoothing neighbours
            rows = np.unique(self.graph_by_column[:, changed].indices)
            x = np.hstack([reduced[rows], np.asarray(self.graph[rows] @ reduced, dtype=np.float32)])
        keep = self.position[rows] >= 0
        return self.position[rows[keep]], np.asarray(x[keep], dtype=np.float32)

    def _decoded_moments(self, results: list[GeneResult], owners: np.ndarray, z: np.ndarray) -> None:
        """Per gene and target: sums and sums of squares of decoded values over the decode cells.

        Only moved decode cells are decoded again; their differences to the original decoded values
        (``x' - x`` and ``x'^2 - x^2``, small numbers, summed per gene) are added to the original sums.
        """
        all_rows = np.concatenate([r.moved for r in results]) if results else np.zeros(0, int)
        dpos = self.decode_position[all_rows] if all_rows.size else np.zeros(0, int)
        sel = np.flatnonzero(dpos >= 0)
        for modality, target in self.targets.items():
            x0, x0sq, s0, q0 = self.base[modality]
            dsum = np.zeros((len(results), x0.shape[1]))
            dsq = np.zeros_like(dsum)
            for i in range(0, sel.size, DECODE_BATCH):
                batch = sel[i : i + DECODE_BATCH]
                new = self.model.decode(z[batch], target)
                square = np.multiply(new, new)
                square -= x0sq[dpos[batch]]
                new -= x0[dpos[batch]]
                pick = sp.csr_matrix(
                    (np.ones(batch.size, np.float32), (owners[batch], np.arange(batch.size))),
                    shape=(len(results), batch.size),
                )
                dsum += pick @ new
                dsq += pick @ square
            for k, r in enumerate(results):
                r.sums[modality], r.sumsq[modality] = s0 + dsum[k], q0 + dsq[k]


def sampling_variance(likelihood: str, mean: np.ndarray, mean_square: np.ndarray, log_theta: np.ndarray | None) -> np.ndarray:
    """Per feature: the mean over cells of the likelihood's own variance around each cell's expected value.

    ``mean`` and ``mean_square`` are the per-feature means over cells of ``x`` and ``x**2`` (decoded expected
    values). NB: ``x + x**2 / theta``; Bernoulli: ``x (1 - x)``; Normal: ``exp(log_scale) ** 2``.
    """
    if likelihood == "nb":
        return mean + mean_square * np.exp(-np.asarray(log_theta, dtype=np.float64))
    if likelihood == "bernoulli":
        return np.maximum(mean - mean_square, 0.0)
    return np.exp(2.0 * np.asarray(log_theta, dtype=np.float64)) * np.ones_like(mean)


def predicted_variance(model: CrossModel, domain: str, mean: np.ndarray, mean_square: np.ndarray) -> np.ndarray:
    """Per feature: the variance across cells of the values the model predicts would be measured, from the
    per-feature means of the decoded expected values ``x`` and of ``x**2`` (law of total variance: the
    spread of ``x`` plus the likelihood's counting noise around it)."""
    likelihood = model.domains[domain].likelihood
    log_theta = model.log_theta(domain) if likelihood != "bernoulli" else None
    return np.maximum(mean_square - mean * mean, 0.0) + sampling_variance(likelihood, mean, mean_square, log_theta)


def standardised_shift(delta: np.ndarray, var_a: np.ndarray, var_b: np.ndarray) -> np.ndarray:
    """``delta`` over the pooled SD of two groups (floored at a small fraction of the median SD of ``a``)."""
    sd = np.sqrt((var_a + var_b) / 2.0)
    floor = SD_FLOOR_FRACTION * max(float(np.median(np.sqrt(var_a))), 1e-12)
    return delta / np.maximum(sd, floor)


def feature_effects(engine: PerturbationEngine, result: GeneResult, modality: str) -> dict[str, np.ndarray]:
    """Mean difference, log2 fold change and score (mean difference over the cells' pooled spread).

    ``score`` is a standardised mean difference: the shift of a feature's decoded expected value in units of
    the spread of that feature's values across cells as the model predicts them to be measured
    (:func:`predicted_variance`), pooled over the original and perturbed cells. Features of very different
    scale (abundant genes, rare peaks) compare, and a feature whose expected value barely varies gets no
    large score from a tiny shift: the demo's driver over-expression ranks its 20 true targets at AUROC
    1.000 this way, 0.942 in units of the decoded spread alone, where rarely detected genes with
    near-constant decoded values led.
    """
    x0, _, s0, q0 = engine.base[modality]
    target = engine.targets[modality]
    n = max(1, x0.shape[0])
    m0, m1 = s0 / n, result.sums[modality] / n
    v0 = predicted_variance(engine.model, target, m0, q0 / n)
    v1 = predicted_variance(engine.model, target, m1, result.sumsq[modality] / n)
    pseudo = LFC_PSEUDO_FRACTION * max(float(np.median(m0)), 1e-12)
    delta = m1 - m0
    return {
        "mean_before": m0,
        "delta": delta,
        "lfc": np.log2((m1 + pseudo) / (m0 + pseudo)),
        "score": standardised_shift(delta, v0, v1),
    }
