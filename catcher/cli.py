"""The ``catcher`` command: run the catcher; every option also reads a CATCHER_* variable."""

from __future__ import annotations

import json
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from catcher import __version__, commands
from catcher.faults import FaultError, read_rule
from catcher.settings import (
    DEFAULTS,
    EVENT_LOOPS,
    MB,
    SettingError,
    Settings,
    format_size,
    hostport,
    parse_base_path,
    parse_compat,
    parse_credentials,
    parse_size,
)

if TYPE_CHECKING:
    from catcher.faults import Decision, Rule, Where
    from catcher.server import Catcher

PORT = click.IntRange(0, 65535)
# Seconds a message still being received when catcher is told to stop has to finish:
# well inside the 10 s that docker stop waits before it kills.
STOP_GRACE = 5.0
F = TypeVar("F", bound=Callable[..., Any])
FILE = click.Path(dir_okay=False)


def _size(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """Read a byte count such as 1024, 512K, 50MB or 1G."""
    if value is None:
        return None
    try:
        return parse_size(str(value), key=param.name or "size")
    except SettingError as error:
        raise click.BadParameter(str(error), ctx, param) from None


def _credentials(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[str, str] | None:
    """Read USER:PASSWORD."""
    if value is None:
        return None
    try:
        return parse_credentials(value, key=param.name or "auth")
    except SettingError as error:
        raise click.BadParameter(str(error), ctx, param) from None


def _base_path(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Read a URL path prefix such as /mail."""
    try:
        return parse_base_path(value)
    except SettingError as error:
        raise click.BadParameter(str(error), ctx, param) from None


def _path(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    return None if value is None else Path(value)


# Mailpit's (MP_*) and MailHog's (MH_*) variables that mean the same as one of catcher's:
# a container set up for either starts catcher the same way. catcher's own win.
PEER_ADDRESSES = {  # (the first one set wins: MailHog's clients talk to its API address)
    "MP_SMTP_BIND_ADDR": "SMTP",
    "MH_SMTP_BIND_ADDR": "SMTP",
    "MP_UI_BIND_ADDR": "HTTP",
    "MH_API_BIND_ADDR": "HTTP",
    "MH_UI_BIND_ADDR": "HTTP",
}
PEER_VALUES = {
    "MP_MAX_MESSAGES": "CATCHER_MAX_MESSAGES",
    "MH_HOSTNAME": "CATCHER_HOSTNAME",
    "MP_SMTP_AUTH": "CATCHER_SMTP_AUTH",
    "MP_UI_AUTH": "CATCHER_HTTP_AUTH",
}


def peer_environment(environ: dict[str, str]) -> dict[str, str]:
    """The CATCHER_* variables that Mailpit's and MailHog's variables in ``environ``
    stand for, leaving out any that ``environ`` sets itself."""
    found: dict[str, str] = {}
    for name, kind in PEER_ADDRESSES.items():
        value = environ.get(name, "").strip()
        host, sep, port = value.rpartition(":")
        if sep and port.isdigit():
            found.setdefault(f"CATCHER_{kind}_HOST", host.strip("[]") or "0.0.0.0")
            found.setdefault(f"CATCHER_{kind}_PORT", port)
    for name, ours in PEER_VALUES.items():
        words = environ.get(name, "").split()
        if words:  # (Mailpit's logins are a list: the first is catcher's one)
            found.setdefault(ours, words[0])
    webroot = environ.get("MP_WEBROOT", "").strip()
    if webroot:  # (Mailpit takes it with or without its slashes)
        found.setdefault("CATCHER_BASE_PATH", "/" + webroot.strip("/"))
    return {key: value for key, value in found.items() if key not in environ}


class RuleText(click.types.StringParamType):
    """A fault rule's text; several in one variable are separated by ';' (one inside
    quotes is part of the rule)."""

    name = "rule"

    def split_envvar_value(self, rv: str) -> list[str]:
        rules, current, quote = [], "", ""
        escaped = False
        for char in rv:
            if escaped:
                escaped = False
            elif quote and char == "\\":
                escaped = True
            elif quote:
                quote = "" if char == quote else quote
            elif char in "\"'":
                quote = char
            elif char == ";":
                rules.append(current)
                current = ""
                continue
            current += char
        rules.append(current)
        return [rule.strip() for rule in rules if rule.strip()]


def option(*names: str, **kwargs: Any) -> Callable[[F], F]:
    """A click option that also reads CATCHER_<NAME> and shows that in --help."""
    env = "CATCHER_" + names[0].lstrip("-").split("/")[0].replace("-", "_").upper()
    return click.option(*names, envvar=env, show_envvar=True, show_default=True, **kwargs)


@click.group(
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@option(
    "--smtp-host",
    default=DEFAULTS.smtp_host,
    help="Address to accept SMTP on; '::' or 0.0.0.0 for all.",
)
@option(
    "--smtp-port",
    default=DEFAULTS.smtp_port,
    type=PORT,
    help="SMTP port; 0 picks a free one (printed).",
)
@option(
    "--smtps-port",
    type=PORT,
    default=DEFAULTS.smtps_port,
    help="Also accept SMTP over implicit TLS (SMTPS) here.",
)
@option(
    "--http-host", default=DEFAULTS.http_host, help="Address to serve the web inbox and API on."
)
@option(
    "--http-port",
    default=DEFAULTS.http_port,
    type=PORT,
    help="HTTP port; 0 picks a free one (printed).",
)
@option(
    "--base-path",
    metavar="PATH",
    callback=_base_path,
    default="/",
    help="Serve the inbox and the API under this path (such as /mail), for a reverse proxy.",
)
@option("--hostname", default=DEFAULTS.hostname, help="Name the SMTP server greets with.")
@option(
    "--smtp-auth",
    metavar="USER:PASSWORD",
    callback=_credentials,
    default=None,
    help="Require this login (wrong ones get 535, MAIL before AUTH 530). Default: any login works.",
)
@option(
    "--tls/--no-tls",
    "starttls",
    default=DEFAULTS.starttls,
    help="Offer STARTTLS (self-signed unless --tls-cert).",
)
@option(
    "--require-tls",
    is_flag=True,
    default=DEFAULTS.require_tls,
    help="Refuse MAIL until the client has done STARTTLS.",
)
@option(
    "--tls-cert",
    type=FILE,
    callback=_path,
    help="PEM certificate for TLS.",
)
@option(
    "--tls-key",
    type=FILE,
    callback=_path,
    help="PEM private key for TLS.",
)
@option(
    "--max-message-size",
    metavar="SIZE",
    callback=_size,
    default=format_size(DEFAULTS.max_message_size),
    help="Largest message accepted (larger ones get 552); advertised in EHLO SIZE.",
)
@option(
    "--max-recipients",
    type=click.IntRange(1),
    default=DEFAULTS.max_recipients,
    help="Most RCPT TO per message (more get 452).",
)
@option(
    "--max-command-length",
    type=click.IntRange(512),
    default=DEFAULTS.max_command_length,
    help="Longest SMTP command line (longer ones get 500).",
)
@option(
    "--smtp-timeout",
    type=click.FloatRange(0, min_open=True),
    default=DEFAULTS.smtp_timeout,
    help="Seconds an SMTP session may sit idle before catcher closes it (421).",
)
@option(
    "--max-connections",
    type=click.IntRange(0),
    default=DEFAULTS.max_connections,
    help="Simultaneous SMTP sessions; more get 421 and are closed; 0: no cap.",
)
@option(
    "--max-messages",
    type=click.IntRange(0),
    default=DEFAULTS.max_messages,
    help="Messages kept; oldest go first; 0: no cap.",
)
@option(
    "--mailbox-max-messages",
    type=click.IntRange(0),
    default=DEFAULTS.mailbox_max_messages,
    help="Messages kept per mailbox (on top of --max-messages); oldest go first; 0: no cap.",
)
@option(
    "--plus-tags/--no-plus-tags",
    "plus_tags",
    default=DEFAULTS.plus_tags,
    help="Route anyone+TAG@any.domain to mailbox TAG.",
)
@option(
    "--max-bytes",
    metavar="SIZE",
    callback=_size,
    default=format_size(DEFAULTS.max_bytes),
    help="Memory held for mail (raw, index, opened models); oldest go first; 0: no cap.",
)
@option(
    "--db",
    metavar="PATH",
    type=FILE,
    callback=_path,
    default=None,
    help="Keep mail in this SQLite file across restarts (made if missing; locked while "
    "catcher runs). Default: memory only, nothing written.",
)
@option(
    "--http-auth",
    metavar="USER:PASSWORD",
    callback=_credentials,
    default=None,
    help="Require HTTP basic auth with this login for the inbox and the API.",
)
@option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    help="Let pages on this origin use the API (repeatable; '*' for any). Default: same origin.",
)
@option(
    "--event-loop",
    type=click.Choice(EVENT_LOOPS),
    default=DEFAULTS.event_loop,
    help="SMTP event loop; auto uses uvloop when it is installed.",
)
@option(
    "--compat",
    metavar="APIS",
    default="all",
    help="Peer APIs to serve beside catcher's: mailpit,mailhog,mailcatcher, all or none.",
)
@option(
    "--fault",
    "faults",
    multiple=True,
    type=RuleText(),
    metavar="RULE",
    help="A fault rule, as 'rcpt to=*@bounce.test reply=\"550 5.1.1 No such user\"' or JSON "
    "(repeatable; in the variable, separated by ';').",
)
@option(
    "--faults-file",
    type=click.File("r"),
    default=None,
    help="A JSON list of fault rules to start with.",
)
@click.version_option(__version__, "-V", "--version", prog_name="catcher")
@click.pass_context
def main(ctx: click.Context, /, **options: Any) -> None:
    """Catch all mail sent to the SMTP port and show it in a web inbox and a JSON API.

    Nothing is ever relayed: every message is kept in memory until it is deleted or
    pushed out by the caps. Point your application's SMTP settings at the SMTP address
    printed at start-up and open the HTTP address in a browser.
    """
    if ctx.invoked_subcommand is not None:
        return
    options["cors_origins"] = tuple(options["cors_origins"])
    options["compat"] = parse_compat(options["compat"])
    rules = list(options.pop("faults"))
    given = options.pop("faults_file")
    if given is not None:
        try:
            found = json.load(given)
        except ValueError as exc:
            raise click.UsageError(f"--faults-file: not JSON ({exc})") from None
        if not isinstance(found, list):
            raise click.UsageError("--faults-file: expected a JSON list of rules")
        for n, rule in enumerate(found, 1):
            try:
                read_rule(json.dumps(rule))
            except FaultError as error:
                raise click.UsageError(f"--faults-file: rule {n}: {error}") from None
        rules += [json.dumps(rule) for rule in found]
    options["faults"] = tuple(rules)
    try:
        settings = Settings(**options)
    except SettingError as error:
        raise click.UsageError(str(error)) from None
    sys.exit(serve(settings))


def run() -> None:
    """The ``catcher`` command, after reading Mailpit's and MailHog's variables."""
    os.environ.update(peer_environment(dict(os.environ)))
    main()


def serve(settings: Settings) -> int:
    """Run until Ctrl-C or SIGTERM; the exit status (2: the database cannot be used)."""
    from catcher.database import DatabaseError
    from catcher.server import Catcher

    done = threading.Event()

    def stop(signum: int, frame: object) -> None:
        done.set()  # (a second signal while stopping changes nothing)

    # Installed before anything starts, so a signal that comes early still stops cleanly,
    # and kept until the process ends, so one that comes while it stops is no traceback.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    _allow_open_files(2 * settings.max_connections + 1024)
    from catcher.memory import freeze_stored_mail, keep_large_blocks_apart

    keep_large_blocks_apart()
    freeze_stored_mail()
    catcher = Catcher(settings)
    lines = _FaultLines()
    catcher.faults.on_fire = lines  # (from the first session on)
    try:
        try:
            catcher.start()
        except DatabaseError as error:
            click.echo(f"catcher: {error}", err=True)
            return 2
        except (OSError, RuntimeError) as error:
            click.echo(f"catcher: {error}", err=True)
            return 1
        _banner(catcher, settings)
        while not done.wait(3600):
            pass
        receiving = catcher.close()
        noun = "message" if receiving == 1 else "messages"
        waiting = (
            f"; waiting up to {STOP_GRACE:g} s for {receiving} {noun} being received"
            if receiving
            else ""
        )
        click.echo(f"catcher stopping: no new mail{waiting}")
        sys.stdout.flush()
    finally:
        catcher.stop(STOP_GRACE)
        lines.drain(2.0)
    click.echo("catcher stopped")
    return 0


class _FaultLines:
    """Each fault that fires, on the console: nobody should wonder why mail fails. The
    SMTP thread only queues the line; a thread of its own writes it, so a console nobody
    reads never stalls SMTP (past 1,000 waiting lines, more are counted, not queued)."""

    def __init__(self) -> None:
        self.lines: queue.Queue[str] = queue.Queue(maxsize=1000)
        self.dropped = 0
        threading.Thread(target=self._write, name="catcher-fault-lines", daemon=True).start()

    def __call__(self, rule: Rule, where: Where, decision: Decision) -> None:
        about = f" to {', '.join(where.recipients)}" if where.recipients else ""
        done = {"disconnect": "closed the connection", "drop": "read the data, then closed"}
        what = done.get(decision.action) or decision.reply or "the normal reply"
        if decision.delay:
            what = f"waited {decision.delay:g} s, then {what}"
        try:
            self.lines.put_nowait(
                f"fault {rule.id} fired at {where.stage} from {where.client}{about}: {what}"
            )
        except queue.Full:
            self.dropped += 1

    def drain(self, seconds: float) -> None:
        """Wait until the lines queued are out, or ``seconds`` (nobody may be reading)."""
        deadline = time.monotonic() + seconds
        while self.lines.unfinished_tasks and time.monotonic() < deadline:
            threading.Event().wait(0.01)

    def _write(self) -> None:
        while True:
            line = self.lines.get()
            dropped, self.dropped = self.dropped, 0
            if dropped:
                click.echo(f"({dropped} more faults fired, not shown)", err=True)
            click.echo(line, err=True)
            self.lines.task_done()


def _allow_open_files(wanted: int) -> None:
    """Raise the soft limit on open files towards ``wanted`` (a connection is a file)."""
    try:
        import resource
    except ImportError:  # not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass


def _banner(catcher: Catcher, settings: Settings) -> None:
    host, port = catcher.smtp_address
    features = ["STARTTLS" if settings.starttls else "no TLS"]
    features.append("AUTH required" if settings.smtp_auth else "AUTH optional, any login")
    click.echo(f"catcher {__version__}")
    click.echo(f"  SMTP   {hostport(host, port)}  ({', '.join(features)})")
    if catcher.smtps_address:
        click.echo(f"  SMTPS  {hostport(*catcher.smtps_address)}")
    click.echo(f"  HTTP   {catcher.url}{'/' if settings.base_path else ''}")
    cap = (
        f"{settings.max_messages} messages kept" if settings.max_messages else "no cap on messages"
    )
    click.echo(f"  limits {settings.max_message_size // MB} MB a message, {cap}. Ctrl-C stops.")
    if settings.db is not None:
        click.echo(f"  db     {settings.db} ({len(catcher.store)} messages)")
    sys.stdout.flush()


@main.command(
    "sendmail",
    add_help_option=False,
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def sendmail(args: tuple[str, ...]) -> None:
    """Send a message read on stdin to a catcher, like sendmail (PHP, cron, git send-email).

    Recipients as arguments or -t; -f sender; -i. See 'catcher sendmail --help'.
    """
    from catcher.sendmail import main as run_sendmail

    sys.exit(run_sendmail(list(args)))


for _command in (commands.export_command, commands.import_command, commands.health):
    main.add_command(_command)
