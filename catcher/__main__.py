"""Allow ``python -m catcher``."""

from catcher.cli import main

main()
