"""Minibatches drawn from sparse matrices: only one batch is ever densified."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from ..io.backed import BackedCounts, Counts, row_sums


@dataclass
class DomainData:
    """Training data of one domain (one sample of one modality).

    Attributes
    ----------
    name
        Domain (sample) id.
    inputs
        Encoder inputs, cells x input width (dense float32: reduced representation and extras).
    counts
        Features reconstructed by the decoder, cells x features: CSR in memory, or
        :class:`~crossomics.io.backed.BackedCounts` read from disk one batch at a time.
    """

    name: str
    inputs: np.ndarray
    counts: Counts

    def __post_init__(self) -> None:
        self.inputs = np.ascontiguousarray(self.inputs, dtype=np.float32)
        if not isinstance(self.counts, BackedCounts):  # on disk (--backed): rows are read per batch
            self.counts = sp.csr_matrix(self.counts, dtype=np.float32)
        self.library = row_sums(self.counts)

    @property
    def n_cells(self) -> int:
        return self.inputs.shape[0]

    def tensors(
        self, idx: np.ndarray, device: torch.device, features: np.ndarray | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Inputs, densified counts (all features, or only ``features``) and library sizes of cells ``idx``."""
        x = torch.from_numpy(self.inputs[idx]).to(device, non_blocking=True)
        rows = self.counts[idx]
        dense = (rows if features is None else rows[:, features]).toarray().astype(np.float32, copy=False)
        c = torch.from_numpy(dense).to(device, non_blocking=True)
        lib = torch.from_numpy(self.library[idx]).to(device, non_blocking=True)
        return x, c, lib


@dataclass
class AnchorPairs:
    """MNN anchor pairs between two domains: row indices into each domain and a weight per pair."""

    domain_a: str
    domain_b: str
    idx_a: np.ndarray
    idx_b: np.ndarray
    weight: np.ndarray

    def __len__(self) -> int:
        return len(self.idx_a)

    def subset(self, keep: np.ndarray) -> AnchorPairs:
        return AnchorPairs(self.domain_a, self.domain_b, self.idx_a[keep], self.idx_b[keep], self.weight[keep])


class EpochSampler:
    """Index batches for one epoch: every domain contributes one batch per step (cycled when smaller).

    Driven by an explicit numpy Generator so that a resumed run draws the same batches.
    """

    def __init__(self, sizes: dict[str, int], batch_size: int, rng: np.random.Generator) -> None:
        self.sizes = sizes
        self.batch_size = batch_size
        self.rng = rng

    def n_steps(self) -> int:
        return max(1, int(np.ceil(max(self.sizes.values()) / self.batch_size)))

    def epoch(self, pools: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
        """A list of steps; each maps domain -> indices drawn from that domain's ``pools`` entry."""
        n_steps = self.n_steps()
        per_domain = {}
        for name, pool in pools.items():
            need = n_steps * self.batch_size
            reps = int(np.ceil(need / max(len(pool), 1)))
            order = np.concatenate([self.rng.permutation(pool) for _ in range(reps)])[:need]
            per_domain[name] = order.reshape(n_steps, self.batch_size)
        return [{name: per_domain[name][s] for name in pools} for s in range(n_steps)]
