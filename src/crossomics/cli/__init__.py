"""The ``crossomics`` command line: one click group, one subcommand per pipeline step.

Each subcommand is a thin wrapper over one library function; ``bin/crossomics_<step>.py`` (called by the
Nextflow processes) and :mod:`crossomics.runner` call the same functions. Subcommand modules live beside
this file and register themselves with ``@cli.command(...)``; modules named ``_*`` are helpers.
"""

from __future__ import annotations

import logging
import sys

import click

from ..errors import InputError, StoppedBySignal


class _UserError(click.ClickException):
    """An :class:`InputError` as click shows it: ``Error: <message>``, exit code 2, no traceback."""

    exit_code = InputError.exit_code


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except InputError as err:
            raise _UserError(str(err)) from None
        except StoppedBySignal as err:  # the checkpoint is written: say how to go on, exit 128 + signal
            import signal

            where = f" {err.checkpoint}" if err.checkpoint else ""
            name = signal.Signals(err.signum).name
            click.echo(
                f"Stopped by {name} after writing the training checkpoint{where}; "
                "rerun the same command with --resume to continue.",
                err=True,
            )
            ctx.exit(128 + err.signum)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="crossomics")
@click.option("-v", "--verbose", is_flag=True, help="Print debug messages.")
@click.option("-q", "--quiet", is_flag=True, help="Print warnings and errors only.")
def cli(verbose: bool, quiet: bool) -> None:
    """crossomics: integrate, generate, simulate and perturb single-cell multi-omics data."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s", stream=sys.stderr, force=True)


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    cli.main(args=argv, prog_name="crossomics")


def run_step(name: str) -> None:
    """Run subcommand ``name`` with this process's arguments (used by the ``bin/`` scripts)."""
    main([name, *sys.argv[1:]])


def _register_subcommands() -> None:
    """Import every public module of this package; each registers its subcommands on :func:`cli`."""
    import importlib
    import pkgutil
    from pathlib import Path

    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


_register_subcommands()
