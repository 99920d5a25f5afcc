"""User-facing errors: bad input ends with exit code 2 and a message, never a traceback."""

from __future__ import annotations


class InputError(Exception):
    """Bad user input (file, row, column, option). The CLI prints the message and exits with code 2.

    Messages should name the file (and row/column where there is one), say what is wrong and how to fix it.
    """

    exit_code = 2


class StoppedBySignal(KeyboardInterrupt):
    """Training stopped by SIGTERM or SIGINT after writing its checkpoint; the CLI exits with 128 + signal."""

    def __init__(self, signum: int, checkpoint: object = None) -> None:
        self.signum = int(signum)
        self.checkpoint = checkpoint
        super().__init__(f"stopped by signal {self.signum} after writing a checkpoint")


def join_problems(problems: list[str], header: str) -> str:
    """Format several problems into one message: ``header`` then one bullet per problem."""
    lines = [header] + [f"  - {p}" for p in problems]
    return "\n".join(lines)
