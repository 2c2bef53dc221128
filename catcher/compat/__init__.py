"""The HTTP APIs of other mail catchers (Mailpit, MailHog, MailCatcher), served beside
catcher's own on the same port so that tests and tools written for them keep working.

Each module translates its peer's routes and shapes onto catcher's store; search,
parsing and storage are catcher's own. Where two peers use one route (``GET`` and
``DELETE /api/v1/messages``), Mailpit's answer serves both peers' clients.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Flask, current_app, request
from flask.typing import ResponseReturnValue

from catcher import __version__
from catcher.wire import json_response

__all__ = ["BLUEPRINTS", "register"]

# Each peer API's blueprints, and the tag its routes have in the compat OpenAPI document.
BLUEPRINTS = {
    "mailpit": "Mailpit API v1",
    "mailhog": "MailHog API",
    "mailhog_v1_list": "MailHog API",
    "mailcatcher": "MailCatcher API",
    "compat": "catcher",
}

bp = Blueprint("compat", __name__)


@bp.get("/api/compat/openapi.json")
def openapi() -> ResponseReturnValue:
    """The peer APIs this catcher serves, as an OpenAPI document of their own: routes and
    what each does. Their shapes are the peers' (see README); catcher's own API is
    described, and fuzzed, in /api/openapi.json."""
    found = document(current_app)
    if request.script_root:  # served under a base path: the paths are relative to it
        found["servers"] = [{"url": request.script_root}]
    return json_response(found)


def document(app: Flask) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        blueprint = (rule.endpoint or "").split(".", 1)[0]
        if blueprint not in BLUEPRINTS:
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        view = app.view_functions[rule.endpoint]
        summary, _, details = (view.__doc__ or "").strip().partition("\n")
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)}", path)
        ]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):  # type: ignore[operator]
            paths.setdefault(path, {})[method.lower()] = {
                "tags": [BLUEPRINTS[blueprint]],
                "summary": summary.strip(),
                "description": " ".join(details.split()),
                "parameters": parameters,
                "responses": {"200": {"description": "as the peer answers"}},
            }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "catcher: the peer catchers' APIs",
            "version": __version__,
            "description": "Mailpit, MailHog and MailCatcher routes served beside catcher's own.",
        },
        "tags": [{"name": name} for name in dict.fromkeys(BLUEPRINTS.values())],
        "paths": paths,
    }


def register(app: Flask, apis: Iterable[str]) -> None:
    """Serve the named peer APIs (``mailpit``, ``mailhog``, ``mailcatcher``) from ``app``."""
    wanted = set(apis)
    if wanted:
        app.register_blueprint(bp)
    if "mailpit" in wanted:
        from catcher.compat import mailpit

        app.register_blueprint(mailpit.bp)
    if "mailhog" in wanted:
        from catcher.compat import mailhog

        app.register_blueprint(mailhog.bp)
        if "mailpit" not in wanted:
            app.register_blueprint(mailhog.list_bp)
    if "mailcatcher" in wanted:
        from catcher.compat import mailcatcher

        app.register_blueprint(mailcatcher.bp)
