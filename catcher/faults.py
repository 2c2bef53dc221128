"""Scripted SMTP failures: rules that make catcher answer like a real, imperfect server.

A rule says when (the ``stage`` of the session), to whom (``match``: envelope sender,
recipient, login, client address, mailbox; globs, any case), what (``action``: reply
with a code and text, disconnect, delay, or accept the data and drop the connection
before the 250) and how often (the next ``times`` matches, ``every`` Nth, beyond a
``rate`` per login or client, or with a seeded ``probability``). Rules are tried in
order; the first that fires wins; one that has used up its ``times`` goes. Nothing here
is random unless a rule asks for a probability, and then its seed makes it repeatable.
"""

from __future__ import annotations

import fnmatch
import json
import random
import re
import shlex
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ACTIONS", "STAGES", "Decision", "FaultError", "FaultRule", "Faults", "Rule", "Where",
    "parse_line", "parse_rule", "read_rule", "rule_spec",
]  # fmt: skip

STAGES = ("connect", "helo", "auth", "mail", "rcpt", "data")
ACTIONS = ("reply", "disconnect", "delay", "drop")
MATCH_KEYS = ("to", "from", "login", "client", "mailbox")
# What each stage knows to match on (a login is known from AUTH on; a mailbox from the
# login, or from the recipients at RCPT and DATA).
STAGE_KEYS = {
    "connect": ("client",),
    "helo": ("client", "login"),
    "auth": ("client", "login", "mailbox"),
    "mail": ("client", "login", "from", "mailbox"),
    "rcpt": MATCH_KEYS,
    "data": MATCH_KEYS,
}
MAX_FINISHED = 1000
# What a rule replies when it gives no reply of its own.
DEFAULT_REPLIES = {
    "connect": "421 4.3.2 Service not available, closing the connection",
    "helo": "421 4.3.2 Service not available, closing the connection",
    "auth": "454 4.7.0 Temporary authentication failure",
    "mail": "451 4.3.0 Try again later",
    "rcpt": "451 4.3.0 Try again later",
    "data": "451 4.3.0 Try again later",
}
RATE_REPLY = "451 4.7.1 Too many messages, slow down"
_REPLY = re.compile(r"([45][0-9][0-9])(?: ([ -~]{0,500}))?")
_RATE = re.compile(r"([0-9]{1,6}) */ *(s|sec|second|m|min|minute|h|hour)", re.IGNORECASE)
_WINDOWS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60}
MAX_RULES = 1000
MAX_DELAY = 600.0


class FaultError(ValueError):
    """A rule that cannot be read: the message names the field and what was wrong."""


@dataclass(slots=True)
class Where:
    """What a rule can match on at one moment of a session; ``route`` names the
    mailboxes mail to some recipients (from a login) goes to, asked once at most."""

    stage: str
    client: str = ""
    login: str | None = None
    sender: str | None = None
    recipients: tuple[str, ...] = ()
    route: Callable[[tuple[str, ...], str | None], tuple[str, ...]] | None = None
    _mailboxes: tuple[str, ...] | None = None

    def mailboxes(self) -> tuple[str, ...]:
        """The mailboxes this mail goes to: by its recipients, or before RCPT by the
        login alone; none while neither is known."""
        if self._mailboxes is None:
            self._mailboxes = ()
            if self.route is not None and (self.recipients or self.login):
                self._mailboxes = self.route(self.recipients, self.login)
        return self._mailboxes


@dataclass(frozen=True, slots=True)
class Decision:
    """What a rule that fired makes the server do."""

    rule: int
    action: str
    reply: str | None
    delay: float

    @property
    def closes(self) -> bool:
        """Whether the connection ends with it (a 421 is sent, then the server closes)."""
        return self.action in ("disconnect", "drop") or (self.reply or "").startswith("421")


@dataclass(slots=True)
class Rule:
    """One rule, as the API shows it; ``fired`` counts the times it made a difference."""

    id: int
    stage: str
    match: dict[str, str]
    action: str
    reply: str | None
    delay: float
    times: int | None
    every: int | None
    rate: str | None
    probability: float | None
    seed: int | None
    fired: int = 0
    seen: int = 0
    source: str | None = None  # a peer API's name when its view made the rule
    _random: random.Random | None = field(default=None, repr=False)
    _window: float = 0.0
    _limit: int = 0
    _recent: dict[str, deque[float]] = field(default_factory=dict, repr=False)
    _prune_at: int = 10_000

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "stage": self.stage,
            "match": dict(self.match),
            "action": self.action,
            "reply": self.reply,
            "delay": self.delay,
            "times": self.times,
            "every": self.every,
            "rate": self.rate,
            "probability": self.probability,
            "seed": self.seed,
            "fired": self.fired,
            "source": self.source,
        }

    def matches(self, where: Where) -> bool:
        for key, pattern in self.match.items():
            if key == "to":
                if not any(_glob(pattern, r) for r in where.recipients):
                    return False
            elif key == "from":
                if where.sender is None or not _glob(pattern, where.sender):
                    return False
            elif key == "login":
                if where.login is None or not _glob(pattern, where.login):
                    return False
            elif key == "client":
                if not _glob(pattern, where.client):
                    return False
            elif key == "mailbox" and not any(
                fnmatch.fnmatchcase(m, pattern) for m in where.mailboxes()
            ):
                return False  # (mailbox names are told apart by case)
        return True

    def fires(self, where: Where, now: float) -> bool:
        """Whether it fires for this match (counting it either way)."""
        self.seen += 1
        if self.rate is not None:
            key = where.login or where.client
            if len(self._recent) > self._prune_at:  # logins and clients long quiet go
                since = now - self._window
                self._recent = {k: q for k, q in self._recent.items() if q and q[-1] > since}
                self._prune_at = max(10_000, 2 * len(self._recent))
            recent = self._recent.setdefault(key, deque())
            while recent and recent[0] <= now - self._window:
                recent.popleft()
            if len(recent) < self._limit:
                recent.append(now)
                return False
            return True
        if self.every is not None and self.seen % self.every:
            return False
        if self._random is not None and self.probability is not None:
            return self._random.random() < self.probability
        return True

    def decision(self) -> Decision:
        reply = self.reply
        if reply is None and self.action == "reply":
            reply = RATE_REPLY if self.rate is not None else DEFAULT_REPLIES[self.stage]
        return Decision(self.id, self.action, reply, self.delay)


def _scoped(rule: Rule, mailbox: str | None) -> bool:
    """Whether a rule belongs to a mailbox's view (every rule does to All mail's)."""
    return mailbox is None or rule.match.get("mailbox") == mailbox


def _glob(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value.lower(), pattern.lower())


class Faults:
    """The rules in force, in order, behind one lock; read by the SMTP thread, changed
    through the API. ``on_fire`` hears of each rule that fires."""

    def __init__(self) -> None:
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        self._next = 0
        self._fired = 0
        # The rules that used up their times, as they ended (newest kept).
        self._finished: dict[int, dict[str, Any]] = {}
        # Told of each rule that fires (for the console), and when the rules change.
        self.on_fire: Callable[[Rule, Where, Decision], None] | None = None
        # Told when the rules change (one is added, removed, or uses up its times).
        self.on_change: Callable[[], None] = lambda: None
        self._views: dict[str, Any] = {}
        self._view_rules: dict[str, int] = {}  # how many rules each view made
        self.active = False  # read without the lock on every SMTP step: any rules at all?

    def add(self, spec: object, *, mailbox: str | None = None) -> dict[str, Any]:
        """A new rule, last in order, as the API shows it; FaultError when ``spec``
        cannot be read. With ``mailbox``, the rule matches that mailbox's mail only."""
        rule = parse_rule(spec)
        if mailbox is not None:
            if "mailbox" not in STAGE_KEYS[rule.stage]:
                raise FaultError(f"mailbox: not known at stage {rule.stage}")
            rule.match["mailbox"] = mailbox
        with self._lock:
            self._keep([rule], self._rules)
            shown = rule.as_json()
        self.on_change()
        return shown

    def replace(
        self, source: str, specs: list[dict[str, Any]], settings: dict[str, Any] | None
    ) -> None:
        """The rules a peer API's view keeps (``source``: its name) replaced by these, all
        or none, with that view's ``settings`` (None: the view is off); FaultError when
        one cannot be read or there would be too many."""
        rules = [parse_rule(spec) for spec in specs]
        for rule in rules:
            rule.source = source
        with self._lock:
            self._keep(rules, [r for r in self._rules if r.source != source])
            if settings is None:
                self._views.pop(source, None)
            else:
                self._views[source] = settings
            self._view_rules[source] = len(rules)
        self.on_change()

    def view(self, source: str) -> dict[str, Any] | None:
        """A peer API view's settings, or None while it is off."""
        with self._lock:
            return self._views.get(source)

    # (call with the lock held)
    def _end_empty_views(self) -> None:
        """A peer API's view whose rules are all gone is off."""
        left = {r.source for r in self._rules}
        for source in [s for s in self._views if s not in left and self._view_rules.get(s)]:
            del self._views[source]

    # (call with the lock held)
    def _keep(self, rules: list[Rule], others: list[Rule]) -> None:
        """``others`` and then ``rules`` become the rules in force, or FaultError."""
        if len(others) + len(rules) > MAX_RULES:
            raise FaultError(f"at most {MAX_RULES} rules")
        for rule in rules:
            self._next += 1
            rule.id = self._next
        self._rules = others + rules
        self.active = bool(self._rules)

    def rules(self, mailbox: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [r.as_json() for r in self._rules if _scoped(r, mailbox)]

    def get(self, rule_id: int, mailbox: str | None = None) -> dict[str, Any] | None:
        with self._lock:
            found = next((r for r in self._rules if r.id == rule_id and _scoped(r, mailbox)), None)
            return found.as_json() if found is not None else None

    def finished(self, rule_id: int) -> dict[str, Any] | None:
        """A rule that used up its times, as it ended (for a while afterwards)."""
        with self._lock:
            return self._finished.get(rule_id)

    def remove(self, rule_id: int, mailbox: str | None = None) -> bool:
        with self._lock:
            kept = [r for r in self._rules if not (r.id == rule_id and _scoped(r, mailbox))]
            if len(kept) == len(self._rules):
                return False
            self._rules = kept
            self.active = bool(kept)
            self._end_empty_views()
        self.on_change()
        return True

    def clear(self, mailbox: str | None = None) -> list[int]:
        """Remove every rule (or a mailbox's); the ids removed."""
        with self._lock:
            gone = [r.id for r in self._rules if _scoped(r, mailbox)]
            self._rules = [r for r in self._rules if not _scoped(r, mailbox)]
            self.active = bool(self._rules)
            if mailbox is None:
                self._views.clear()
            self._end_empty_views()
        if gone:
            self.on_change()
        return gone

    def reset(self) -> None:
        """No rules, and no firings counted: as at the start."""
        with self._lock:
            had = bool(self._rules)
            self._rules = []
            self._views.clear()
            self._finished.clear()
            self._fired = 0
            self.active = False
        if had:
            self.on_change()

    @property
    def fired(self) -> int:
        return self._fired

    def __len__(self) -> int:
        return len(self._rules)

    def decide(self, where: Where) -> Decision | None:
        """The first rule of this stage that matches and fires, or None (as normal)."""
        if not self.active:
            return None
        now = time.monotonic()
        used_up = False
        with self._lock:
            for rule in self._rules:
                if rule.stage != where.stage or not rule.matches(where):
                    continue
                if not rule.fires(where, now):
                    continue
                rule.fired += 1
                self._fired += 1
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self._rules.remove(rule)
                        self.active = bool(self._rules)
                        self._finished[rule.id] = rule.as_json()
                        if len(self._finished) > MAX_FINISHED:
                            del self._finished[next(iter(self._finished))]
                        used_up = True
                decision = rule.decision()
                fired = rule
                break
            else:
                return None
        if self.on_fire is not None:
            self.on_fire(fired, where, decision)
        if used_up:
            self.on_change()
        return decision


def rule_spec(
    stage: str,
    *,
    to: str | None = None,
    sender: str | None = None,
    login: str | None = None,
    client: str | None = None,
    mailbox: str | None = None,
    action: str = "reply",
    reply: str | None = None,
    delay: float | None = None,
    times: int | None = None,
    every: int | None = None,
    rate: str | None = None,
    probability: float | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """A rule's JSON shape from Python's keywords (``sender`` is the API's ``from``)."""
    matched = {"to": to, "from": sender, "login": login, "client": client, "mailbox": mailbox}
    spec: dict[str, Any] = {"stage": stage, "action": action}
    if any(v is not None for v in matched.values()):
        spec["match"] = {k: v for k, v in matched.items() if v is not None}
    given = {
        "reply": reply, "delay": delay, "times": times, "every": every, "rate": rate,
        "probability": probability, "seed": seed,
    }  # fmt: skip
    spec.update({k: v for k, v in given.items() if v is not None})
    parse_rule(spec)  # a bad rule is refused here, where the caller wrote it
    return spec


class FaultRule:
    """A rule made for a test: ``with mailbox.fault(...):`` removes it on the way out,
    ``remove()`` at once; ``fired`` is how often it has fired so far."""

    def __init__(
        self,
        rule_id: int,
        remove: Callable[[], object],
        read: Callable[[], dict[str, Any] | None],
    ) -> None:
        self.id = rule_id
        self._remove = remove
        self._read = read  # the rule as the API shows it, or as it ended; None: gone
        self._last = 0
        self._removed = False

    @property
    def fired(self) -> int:
        """How often it fired (all its times, once it has used them up and gone)."""
        found = None if self._removed else self._read()
        if found is not None:
            self._last = int(found["fired"])
        return self._last

    def remove(self) -> None:
        if not self._removed:
            self._last = self.fired  # what it fired, kept for after
            self._removed = True
            self._remove()

    def __enter__(self) -> FaultRule:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"<FaultRule {self.id}>"


def parse_rule(spec: object) -> Rule:
    """A rule from its JSON shape (see the module's docstring); FaultError otherwise."""
    if not isinstance(spec, dict):
        raise FaultError('a rule is a JSON object: {"stage": "rcpt", "reply": "451 ..."}')
    unknown = set(spec) - {
        "stage", "match", "action", "reply", "delay", "times", "every", "rate",
        "probability", "seed",
    }  # fmt: skip
    if unknown:
        raise FaultError(f"unknown field {sorted(unknown)[0]!r}")
    stage = spec.get("stage")
    if stage not in STAGES:
        raise FaultError(f"stage: expected one of {', '.join(STAGES)}, got {stage!r}")
    match = spec.get("match") or {}
    if not isinstance(match, dict):
        raise FaultError('match: expected an object such as {"to": "*@bounce.test"}')
    for key, value in match.items():
        if key not in MATCH_KEYS:
            raise FaultError(f"match: unknown key {key!r} (use {', '.join(MATCH_KEYS)})")
        if not isinstance(value, str) or not value or len(value) > 320:
            raise FaultError(f"match.{key}: expected a pattern of 1 to 320 characters")
        if key not in STAGE_KEYS[stage]:
            known = ", ".join(STAGE_KEYS[stage])
            raise FaultError(f"match.{key}: not known at stage {stage} (it knows {known})")
    action = spec.get("action", "reply")
    if action not in ACTIONS:
        raise FaultError(f"action: expected one of {', '.join(ACTIONS)}, got {action!r}")
    if action == "drop" and stage != "data":
        raise FaultError("action drop: only at stage data (the data is read, then no 250)")
    reply = spec.get("reply")
    if reply is not None:
        if not isinstance(reply, str) or not _REPLY.fullmatch(reply):
            raise FaultError(
                f"reply: expected a 4xx or 5xx code and one line of text, got {str(reply)[:80]!r}"
            )
        if action in ("disconnect", "drop"):
            raise FaultError(f"reply: a {action} sends no reply")
    delay = _number(spec, "delay", 0.0, MAX_DELAY)
    if action == "delay" and not delay:
        raise FaultError("delay: seconds to wait are required for action delay")
    if action != "delay" and delay:
        raise FaultError("delay: only with action delay")
    times = _count(spec, "times")
    every = _count(spec, "every")
    rate = spec.get("rate")
    window, limit = 0.0, 0
    if rate is not None:
        found = _RATE.fullmatch(str(rate).strip()) if isinstance(rate, str) else None
        if found is None:
            raise FaultError(f"rate: expected a count per time such as 10/min, got {rate!r}")
        limit, window = int(found.group(1)), _WINDOWS.get(found.group(2).lower(), 3600)
        if limit < 1:
            raise FaultError("rate: at least 1 a window (a rule for every match needs no rate)")
    probability = spec.get("probability")
    if probability is not None:
        if isinstance(probability, bool) or not isinstance(probability, (int, float)):
            raise FaultError("probability: expected a number from 0 to 1")
        if not 0 <= probability <= 1:
            raise FaultError(f"probability: expected a number from 0 to 1, got {probability}")
    seed = spec.get("seed")
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64
    ):
        raise FaultError("seed: expected a whole number from 0 to 2**64 - 1")
    if seed is not None and probability is None:
        raise FaultError("seed: only with probability")
    if sum(x is not None for x in (every, rate, probability)) > 1:
        raise FaultError("every, rate and probability: give one at most")
    rule = Rule(
        0, stage, {k: str(v) for k, v in match.items()}, action, reply, delay, times,
        every, rate, None if probability is None else float(probability), seed,
    )  # fmt: skip
    if probability is not None:
        rule._random = random.Random(seed)
    rule._window, rule._limit = window, limit
    return rule


def _number(spec: dict[str, Any], name: str, default: float, high: float) -> float:
    value = spec.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= high:
        raise FaultError(f"{name}: expected seconds from 0 to {high:g}")
    return float(value)


def _count(spec: dict[str, Any], name: str) -> int | None:
    value = spec.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1_000_000:
        raise FaultError(f"{name}: expected a whole number from 1 to 1000000")
    return value


def parse_line(text: str) -> dict[str, Any]:
    """A rule as the command line spells it: the stage, then ``key=value`` words
    (``rcpt to=*@bounce.test reply="550 5.1.1 No such user" times=2``)."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise FaultError(f"{text[:80]!r}: {exc}") from None
    if not words:
        raise FaultError("an empty rule")
    spec: dict[str, Any] = {"stage": words[0]}
    match: dict[str, str] = {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep:
            raise FaultError(f"{word!r}: expected key=value")
        if key in MATCH_KEYS:
            match[key] = value
        elif key in ("times", "every", "seed"):
            spec[key] = _whole(key, value)
        elif key in ("delay", "probability"):
            try:
                spec[key] = float(value)
            except ValueError:
                raise FaultError(f"{key}: expected a number, got {value!r}") from None
        elif key in ("action", "reply", "rate"):
            spec[key] = value
        else:
            raise FaultError(f"{key!r}: not a rule field")
    if match:
        spec["match"] = match
    return spec


def _whole(key: str, value: str) -> int:
    if not (value.isascii() and value.isdigit()):
        raise FaultError(f"{key}: expected a whole number, got {value!r}")
    return int(value)


def read_rule(text: str) -> dict[str, Any]:
    """A rule as a setting gives it: a JSON object, or the command line's words."""
    if text.lstrip().startswith("{"):
        try:
            found = json.loads(text)
        except ValueError as exc:
            raise FaultError(f"{text[:80]!r}: not JSON ({exc})") from None
        parse_rule(found)
        return found  # type: ignore[no-any-return]
    spec = parse_line(text)
    parse_rule(spec)
    return spec
