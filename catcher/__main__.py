"""Allow ``python -m catcher``."""

from catcher.cli import run

run()
