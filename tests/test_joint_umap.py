"""The joint UMAP: exact up to its cell cap, subset + kNN placement above it."""

from __future__ import annotations

import numpy as np

from crossomics.model.train_step import joint_umap


def test_cells_above_the_cap_land_with_their_cluster():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=12, size=(3, 8))
    labels = {k: rng.integers(0, 3, 400) for k in ("rna", "atac")}
    latents = {k: (centres[v] + rng.normal(size=(400, 8))).astype(np.float32) for k, v in labels.items()}
    xy = joint_umap(latents, seed=0, max_cells=300)
    assert {k: v.shape for k, v in xy.items()} == {"rna": (400, 2), "atac": (400, 2)}
    allxy, lab = np.vstack([xy["rna"], xy["atac"]]), np.concatenate([labels["rna"], labels["atac"]])
    means = np.stack([allxy[lab == c].mean(0) for c in range(3)])
    nearest = np.argmin(((allxy[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert (nearest == lab).mean() > 0.98
    assert np.array_equal(xy["rna"], joint_umap(latents, seed=0, max_cells=300)["rna"])
