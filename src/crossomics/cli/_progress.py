"""Progress bars for long steps (tqdm on stderr; quiet when not a terminal unless asked)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from tqdm.auto import tqdm


@contextlib.contextmanager
def epoch_progress() -> Iterator:
    """A callback ``(stage, epoch, max_epochs, losses, last)`` drawing one bar per training stage.

    A bar closes at its stage's last epoch (``last``: the epoch budget or early stopping), so its final
    time and rate are the stage's, not those of whatever the caller does after training.
    """
    bars: dict[str, tqdm] = {}

    def update(stage: str, epoch: int, max_epochs: int, losses: dict[str, float], last: bool) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=max_epochs, desc=f"train:{stage}", unit="epoch", leave=True)
        bar.update(epoch - bar.n)
        bar.set_postfix({k: f"{v:.4f}" for k, v in losses.items()})
        if last:
            bar.close()

    try:
        yield update
    finally:
        for bar in bars.values():
            bar.close()
