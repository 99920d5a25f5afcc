"""The ``crossomics`` command line: one click group, one subcommand per pipeline step.

Each subcommand is a thin wrapper over one library function; ``bin/crossomics_<step>.py`` (called by the
Nextflow processes) and :mod:`crossomics.runner` call the same functions.
"""

from __future__ import annotations

import logging
import sys

import click

from ..errors import InputError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="crossomics")
@click.option("-v", "--verbose", is_flag=True, help="Print debug messages.")
@click.option("-q", "--quiet", is_flag=True, help="Print warnings and errors only.")
def cli(verbose: bool, quiet: bool) -> None:
    """crossomics: integrate, generate, simulate and perturb single-cell multi-omics data."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s", stream=sys.stderr, force=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the group; user errors exit with code 2 and a message, never a traceback."""
    try:
        rv = cli.main(args=argv, prog_name="crossomics", standalone_mode=False)
    except InputError as err:
        click.echo(f"Error: {err}", err=True)
        sys.exit(InputError.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    sys.exit(rv if isinstance(rv, int) else 0)


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
