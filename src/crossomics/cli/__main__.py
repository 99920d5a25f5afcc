"""``python -m crossomics.cli``."""

from . import main

main()
