"""The README keeps up with the code: every setting and every API route is documented."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from catcher.cli import main
from catcher.compat import BLUEPRINTS
from catcher.server import Catcher
from catcher.settings import Settings
from catcher.store import MessageStore
from catcher.web import create_app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()

# Settings with no command-line option: they are for library users (tests, the plugin).
LIBRARY_ONLY = {"http_threads"}


def test_every_option_is_in_the_settings_table() -> None:
    for param in main.params:
        if param.name in ("version", "help") or not getattr(param, "envvar", None):
            continue
        option = (
            max(param.opts, key=len)
            if param.secondary_opts == []
            else "/".join([param.opts[0], *param.secondary_opts])
        )
        row = re.search(rf"^\| `{re.escape(option)}` \| `{param.envvar}` \|", README, re.MULTILINE)
        assert row, f"README settings table lacks {option} / {param.envvar}"


def test_every_setting_has_an_option() -> None:
    options = {p.name for p in main.params}
    for field in fields(Settings):
        assert field.name in options or field.name in LIBRARY_ONLY, field.name


def test_every_api_route_is_in_the_readme() -> None:
    app = create_app(MessageStore(), Settings(), Catcher().status)
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.endpoint.split(".")[0] in BLUEPRINTS:
            continue  # (the peers' APIs have a document and a README section of their own)
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule).replace("{ident}", "{id}")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):  # type: ignore[operator]
            assert f"`{method} {path}`" in README, f"README lacks {method} {path}"
