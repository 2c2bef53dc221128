"""catcher: a local-development mail catcher with a web inbox and a JSON API."""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from catcher.client import Client
    from catcher.mail import Email, assert_no_lint

try:
    __version__ = version("catcher")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["Client", "Email", "__version__", "assert_no_lint"]

# Loaded on first use, so that ``import catcher`` (done by the CLI and by the pytest
# plugin in every test run) stays light.
_LAZY = {"Client": "catcher.client", "Email": "catcher.mail", "assert_no_lint": "catcher.mail"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'catcher' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
