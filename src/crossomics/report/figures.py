"""Static figures for the report, where MultiQC has no plot type: UMAPs of the joint space."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..io.write import atomic_path

#: cells drawn per figure at most (evenly subsampled, seeded); keeps PNGs small for large runs
MAX_CELLS = 50_000


def embedding_png(
    cells: pd.DataFrame, color_by: str, path: Path, *, title: str, seed: int = 0, max_cells: int = MAX_CELLS
) -> Path:
    """Scatter ``cells.x`` vs ``cells.y`` coloured by ``cells[color_by]``, written atomically to ``path``.

    Parameters
    ----------
    cells
        One row per cell with columns ``x``, ``y`` (2-D coordinates) and ``color_by``.
    color_by
        Categorical column that picks each point's colour; missing values are drawn as ``"unknown"``.
    path
        Output PNG.
    title
        Figure title.
    seed
        Seed of the drawing order (shuffled so that no group hides another) and of the subsample.
    max_cells
        Largest number of cells drawn.

    Returns
    -------
    The written PNG path.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(cells))[:max_cells]
    sub = cells.iloc[order]
    groups = sub[color_by].astype("string").fillna("unknown").to_numpy()
    names = sorted(set(groups))
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    colours = {g: cmap(i % cmap.N) for i, g in enumerate(names)}
    size = float(np.clip(3000.0 / max(len(sub), 1), 1.0, 12.0))

    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=110)
    ax.scatter(sub["x"], sub["y"], c=[colours[g] for g in groups], s=size, linewidths=0, rasterized=True)
    for g in names:
        ax.scatter([], [], c=[colours[g]], s=30, label=f"{g} ({int((groups == g).sum())})")
    basis = str(cells["basis"].iloc[0]) if "basis" in cells and len(cells) else "UMAP"
    ax.set(title=title, xlabel=f"{basis} 1", ylabel=f"{basis} 2", xticks=[], yticks=[])
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=8, title=color_by)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)
