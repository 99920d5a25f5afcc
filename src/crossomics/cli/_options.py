"""Options shared by several subcommands, declared once."""

from __future__ import annotations

import click

from ..settings import DEVICE_CHOICES

device_option = click.option(
    "--device",
    type=click.Choice(DEVICE_CHOICES, case_sensitive=False),
    default="auto",
    show_default=True,
    help="Where torch runs: auto picks CUDA when a GPU is visible, else the CPU.",
)
seed_option = click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
threads_option = click.option(
    "--threads",
    type=click.IntRange(min=0),
    default=None,
    help="torch CPU threads [default: OMP_NUM_THREADS if set, else every usable core up to 8]; "
    "0: every usable core; 1 is faster on cores other busy processes share.",
)
backed_option = click.option(
    "--backed",
    is_flag=True,
    help="Training reads each minibatch's counts from DIR/preprocess on disk instead of loading every sample's "
    "counts into memory (for data larger than memory; a little slower).",
)
outdir_option = click.option(
    "--outdir",
    required=True,
    type=click.Path(file_okay=False),
    help="Output folder (the shared crossomics layout: qc/, preprocess/, priors/, model/, ...).",
)
