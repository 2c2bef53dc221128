"""``catcher export``, ``catcher import`` and ``catcher health``: commands that talk to a
catcher already running (files in and out through ``catcher.transfer``; its health)."""

from __future__ import annotations

import io
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from catcher import transfer
from catcher.settings import DEFAULTS, SettingError, parse_base_path
from catcher.transfer import with_login

__all__ = ["catcher_url", "export_command", "health", "import_command"]

F = TypeVar("F", bound=Callable[..., Any])


def _apply(decorators: list[Callable[[F], F]]) -> Callable[[F], F]:
    def apply(function: F) -> F:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


_FILTERS = [
    click.option("--to", default=None, help="Only mail to this recipient (substring)."),
    click.option("--from", "sender", default=None, help="Only mail from this sender (substring)."),
    click.option("--subject", default=None, help="Only mail with this in its subject."),
    click.option("-q", "--query", default=None, help="Search text, as in the inbox's search box."),
    click.option("--mailbox", default=None, help="Only this mailbox's mail."),
    click.option("--since", type=int, default=None, help="Only messages with an id after this."),
]


def _url(help_text: str) -> Callable[[F], F]:
    """``--url`` (``CATCHER_URL``): the running catcher to talk to."""
    return click.option(
        "--url", envvar="CATCHER_URL", show_envvar=True, default=None, help=help_text
    )


_CATCHER = (
    "The catcher's HTTP address. Default: the one CATCHER_HTTP_HOST, CATCHER_HTTP_PORT and "
    "CATCHER_BASE_PATH (or their defaults) describe, on loopback when it listens on every address."
)


@click.command("export")
@_url(_CATCHER)
@click.option(
    "--format",
    "kind",
    type=click.Choice(["mbox", "eml"]),
    default="mbox",
    show_default=True,
    help="One mbox file (mboxrd), or a folder of <id>.eml files.",
)
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), required=True, help="The file or folder."
)
@_apply(_FILTERS)
def export_command(url: str | None, kind: str, output: Path, **filters: Any) -> None:
    """Write a running catcher's messages (or those the filters match) to files, byte for
    byte, oldest first."""
    query = transfer.filter_query(**filters)
    base = url or catcher_url(dict(os.environ))
    try:
        if kind == "mbox":
            count = transfer.export_mbox(base, query, output)
        else:
            count = transfer.export_eml(base, query, output)
    except (transfer.TransferError, OSError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"exported {count} message{'s' if count != 1 else ''} to {output}")


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--smtp-host", default="127.0.0.1", show_default=True, help="The catcher's SMTP host."
)
@click.option("--smtp-port", type=int, default=1025, show_default=True, help="Its SMTP port.")
@_url(
    "Deliver over HTTP (POST /api/messages, bytes exactly) to the catcher at this address instead."
)
@click.option("--from", "sender", default=None, help="MAIL FROM for every message.")
@click.option("--to", "recipients", multiple=True, help="RCPT TO for every message (repeatable).")
def import_command(
    paths: tuple[Path, ...],
    smtp_host: str,
    smtp_port: int,
    url: str | None,
    sender: str | None,
    recipients: tuple[str, ...],
) -> None:
    """Deliver mbox files, Maildirs, .eml files and folders of them to a running catcher,
    over SMTP so that routing and fault rules apply. The envelope is each message's From,
    To, Cc and Bcc unless --from and --to say otherwise."""
    try:
        found = list(transfer.found_in(paths))
    except (transfer.TransferError, OSError, RecursionError) as error:
        raise click.ClickException(str(error)) from None
    if not found:
        raise click.ClickException(
            f"no messages in {', '.join(map(str, paths))}: "
            "expected mbox files, Maildirs, .eml files or folders of them"
        )
    failures: list[str] = []

    def done(item: Any, error: str | None) -> None:
        if error is not None:
            failures.append(f"{item.source}: {error}")
        bar.update(1)

    with click.progressbar(
        length=len(found),
        label="importing",
        file=sys.stderr if transfer.progress_wanted() else io.StringIO(),
    ) as bar:
        try:
            delivered, failed = transfer.deliver(
                found,
                smtp=(smtp_host, smtp_port),
                url=url,
                sender=sender,
                recipients=recipients,
                done=done,
            )
        except transfer.TransferError as error:
            raise click.ClickException(str(error)) from None
    for line in failures[:20]:
        click.echo(f"  failed: {line}", err=True)
    if len(failures) > 20:
        click.echo(f"  ... and {len(failures) - 20} more", err=True)
    click.echo(
        f"imported {delivered} message{'s' if delivered != 1 else ''}"
        + (f", {failed} failed" if failed else "")
    )
    sys.exit(1 if failed else 0)


def catcher_url(environ: dict[str, str]) -> str:
    """The address of the catcher this environment starts: ``CATCHER_HTTP_HOST`` (loopback
    for an address that means every interface), ``CATCHER_HTTP_PORT`` and
    ``CATCHER_BASE_PATH``, else the defaults."""
    host = environ.get("CATCHER_HTTP_HOST", "").strip() or DEFAULTS.http_host
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    port = environ.get("CATCHER_HTTP_PORT", "").strip() or str(DEFAULTS.http_port)
    try:
        prefix = parse_base_path(environ.get("CATCHER_BASE_PATH", ""))
    except SettingError:
        prefix = ""  # the catcher itself refuses to start with it
    origin = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    return origin + prefix


@click.command("health")
@_url(_CATCHER)
@click.option(
    "--timeout",
    type=click.FloatRange(0, min_open=True),
    default=5.0,
    show_default=True,
    help="Seconds to wait for the answer.",
)
def health(url: str | None, timeout: float) -> None:
    """Ask a running catcher whether SMTP and HTTP are both up (GET /api/health): exit 0
    when they are, 1 when not or when it does not answer. For container health checks.

    Sends CATCHER_HTTP_AUTH's login when that is set (--http-auth).
    """
    base = (url or catcher_url(dict(os.environ))).rstrip("/")
    request = with_login(urllib.request.Request(f"{base}/api/health"))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as error:
        reason = "login needed (CATCHER_HTTP_AUTH)" if error.code == 401 else error.reason
        click.echo(f"catcher at {base}: unhealthy, HTTP {error.code} {reason}", err=True)
        sys.exit(1)
    except (OSError, ValueError) as error:  # refused, timed out, unreadable
        why = getattr(error, "reason", None) or error
        click.echo(f"catcher at {base}: not answering ({why})", err=True)
        sys.exit(1)
    if not (isinstance(answer, dict) and answer.get("status") == "ok"):
        click.echo(f"catcher at {base}: unhealthy ({answer})", err=True)
        sys.exit(1)
    click.echo(f"catcher at {base}: ok (SMTP and HTTP up)")
