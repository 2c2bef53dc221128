"""docs/architecture.md stays true: every module is in its table and imports only what it allows."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "architecture.md").read_text()
ROW = re.compile(r"^\| `(catcher(?:\.[\w.]+)?)` \|[^|]*\|([^|]*)\|$", re.MULTILINE)
ALLOWED = {name: set(re.findall(r"`([\w.]+)`", rest)) for name, rest in ROW.findall(DOC)}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted((ROOT / "catcher").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(path: Path, known: set[str]) -> set[str]:
    """The catcher modules a file imports, ``from catcher import wire`` read as catcher.wire."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "catcher")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "catcher":
                continue
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in known else node.module)
    return found


def test_every_module_is_in_the_table() -> None:
    assert set(modules()) == set(ALLOWED), "docs/architecture.md and catcher/ differ"


@pytest.mark.parametrize("name", sorted(modules()))
def test_each_module_imports_only_what_the_table_allows(name: str) -> None:
    known = set(modules())
    used = imports(modules()[name], known) - {name}
    assert used <= ALLOWED[name], f"{name} imports {sorted(used - ALLOWED[name])}"
