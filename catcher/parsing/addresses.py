"""Address headers as senders really write them: RFC 5322 plus the common mistakes, salvaged."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from catcher.parsing.charsets import decode_words


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox from an address header."""

    name: str
    address: str

    def __str__(self) -> str:
        if not self.name:
            return self.address
        name = self.name
        if _NEEDS_QUOTES.search(name):
            name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return f"{name} <{self.address}>" if self.address else name


def addresses_text(addrs: tuple[Address, ...]) -> str:
    """Render addresses as one line, ``Name <a@b>, c@d``."""
    return ", ".join(str(a) for a in addrs)


# --- addresses ----------------------------------------------------------------------------

_NEEDS_QUOTES = re.compile(r'[()<>\[\]:;@\\,."]')
_ADDR_SPEC = re.compile(r"^[^@\s]+@[^@\s]+$")
_ADDRESS_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
    | (?P<quoted>"(?:[^"\\]|\\.)*")
    | (?P<stray>")
    | (?P<comment>\()
    | (?P<special>[<>,:;])
    | (?P<word>[^\s"(<>,:;]+)
    """,
    re.VERBOSE | re.DOTALL,
)


class _Token(NamedTuple):
    kind: str  # ws, quoted, comment, word, or the special character itself
    raw: str
    value: str


def _tokenize(text: str, problems: list[str], header: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _ADDRESS_TOKEN.match(text, pos)
        if match is None:  # cannot happen with these alternatives; stop rather than loop
            break
        kind = match.lastgroup or "word"
        raw = match.group()
        if kind == "comment":
            end, value, closed = _scan_comment(text, pos)
            if not closed:
                problems.append(f"header {header!r}: unterminated comment")
            tokens.append(_Token("comment", text[pos:end], value))
            pos = end
            continue
        if kind == "stray":
            # An unterminated quote is read as a stray character rather than swallowing the rest.
            problems.append(f"header {header!r}: unterminated quoted string")
            tokens.append(_Token("word", raw, ""))
        elif kind == "quoted":
            tokens.append(_Token("quoted", raw, re.sub(r"\\(.)", r"\1", raw[1:-1])))
        elif kind == "special":
            tokens.append(_Token(raw, raw, raw))
        else:
            tokens.append(_Token(kind, raw, raw))
        pos = match.end()
    return tokens


def _scan_comment(text: str, start: int) -> tuple[int, str, bool]:
    depth = 0
    pos = start
    chars: list[str] = []
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            chars.append(text[pos + 1])
            pos += 2
            continue
        if char == "(":
            depth += 1
            if depth > 1:
                chars.append(char)
        elif char == ")":
            depth -= 1
            if depth == 0:
                return pos + 1, "".join(chars), True
            chars.append(char)
        else:
            chars.append(char)
        pos += 1
    return pos, "".join(chars), False


# The usual header holds one mailbox, "Name <local@domain>" or "local@domain": read here
# as the tokenizer below would read it, without the tokens.
_WORD = r'[^\s"(<>,:;]+'
_SIMPLE = re.compile(rf"\s*(?:((?:{_WORD}\s+)*?{_WORD}|)\s*<({_WORD})>|({_WORD}))\s*")


def parse_addresses(text: str, header: str, problems: list[str]) -> list[Address]:
    """Parse an address list, salvaging what senders get wrong (and saying so in problems)."""
    simple = _SIMPLE.fullmatch(text) if len(text) < 1000 else None
    if simple is not None:
        phrase, address, bare = simple.groups()
        if bare is not None:
            return _mailbox("", bare, problems, header)
        return _mailbox(_display_name(phrase, problems, header), address, problems, header)
    entries = _split_entries(_tokenize(text, problems, header), problems, header)
    out: list[Address] = []
    index = 0
    while index < len(entries):
        entry = entries[index]
        # "Doe, John <j@x>": an unquoted comma; join the bare words to the next mailbox.
        if (
            index + 1 < len(entries)
            and _bare_words(entry)
            and any(t.kind == "<" for t in entries[index + 1])
        ):
            entries[index + 1] = [*entry, _Token("word", ",", ","), *entries[index + 1]]
            problems.append(f"header {header!r}: unquoted comma in a display name")
            index += 1
            continue
        out.extend(_mailboxes(entry, problems, header))
        index += 1
    return out


def _split_entries(tokens: list[_Token], problems: list[str], header: str) -> list[list[_Token]]:
    entries: list[list[_Token]] = []
    current: list[_Token] = []
    angle = in_group = False
    for token in tokens:
        kind = token.kind
        if kind == "<":
            angle = True
        elif kind == ">":
            angle = False
        elif not angle and kind == ",":
            entries.append(current)
            current = []
            continue
        elif not angle and kind == ":" and not in_group and not _has_address(current):
            in_group = True  # group syntax: the group's name is not a mailbox
            current = []
            continue
        elif not angle and kind == ";":
            if not in_group:
                problems.append(f"header {header!r}: ';' used to separate addresses")
            in_group = False
            entries.append(current)
            current = []
            continue
        current.append(token)
    entries.append(current)
    return entries


def _has_address(tokens: list[_Token]) -> bool:
    return any(t.kind == "<" or (t.kind == "word" and "@" in t.raw) for t in tokens)


def _bare_words(tokens: list[_Token]) -> bool:
    words = [t for t in tokens if t.kind not in ("ws", "comment")]
    return bool(words) and all(t.kind == "word" and "@" not in t.raw for t in words)


def _mailboxes(tokens: list[_Token], problems: list[str], header: str) -> list[Address]:
    """Usually one mailbox; none for an empty entry; several when commas were left out."""
    if not any(t.kind not in ("ws", "comment") for t in tokens):
        return []
    opening = next((i for i, t in enumerate(tokens) if t.kind == "<"), None)
    if opening is not None:
        rest = tokens[opening + 1 :]
        closing = next((i for i, t in enumerate(rest) if t.kind == ">"), None)
        if closing is None:
            problems.append(f"header {header!r}: missing '>' after an address")
        inner = rest if closing is None else rest[:closing]
        address = "".join(t.raw for t in inner if t.kind not in ("ws", "comment", "<"))
        if address.startswith("@") and ":" in address:
            address = address.partition(":")[2]  # drop an obsolete source route
        name = _phrase(tokens[:opening], problems, header)
    else:
        chunks: list[str] = []
        glue = False
        for token in tokens:
            if token.kind in ("ws", "comment"):
                glue = False
                continue
            if glue:
                chunks[-1] += token.raw
            else:
                chunks.append(token.raw)
            glue = True
        comments = [t.value for t in tokens if t.kind == "comment" and t.value.strip()]
        name = decode_words(" ".join(comments[0].split()), problems, header) if comments else ""
        if len(chunks) == 1:
            address = chunks[0]
        elif not any("@" in c for c in chunks):
            problems.append(f"header {header!r}: no address in {' '.join(chunks)!r}")
            return [Address(decode_words(" ".join(chunks), problems, header), "")]
        elif all(c.count("@") == 1 and _ADDR_SPEC.match(c) for c in chunks):
            problems.append(f"header {header!r}: addresses separated by spaces, not commas")
            return [Address("", _unicode_domain(c)) for c in chunks]
        elif "@" in chunks[-1] and not any("@" in c for c in chunks[:-1]):
            problems.append(f"header {header!r}: address without angle brackets after a name")
            name = decode_words(" ".join(chunks[:-1]), problems, header)
            address = chunks[-1]
        else:
            address = "".join(chunks)
    return _mailbox(name, address, problems, header)


def _mailbox(name: str, address: str, problems: list[str], header: str) -> list[Address]:
    if not name and not address:
        return []  # "<>", the null sender, names nobody
    # A bare local part ("root") is how local mail is often addressed: not worth a defect.
    if "@" in address and '"' not in address and not _ADDR_SPEC.match(address):
        problems.append(f"header {header!r}: invalid address {address!r}")
    return [Address(name, _unicode_domain(address))]


def _phrase(tokens: list[_Token], problems: list[str], header: str) -> str:
    words: list[str] = []
    for token in tokens:
        if token.kind == "comment":
            continue
        if token.kind == "ws":
            words.append(" ")
        elif token.kind == "quoted":
            words.append(token.value)
        elif token.raw != '"':
            words.append(token.raw)
    return _display_name("".join(words), problems, header)


def _display_name(text: str, problems: list[str], header: str) -> str:
    name = decode_words(" ".join(text.split()), problems, header)
    if len(name) > 1 and name[0] == name[-1] == "'":
        name = name[1:-1]  # Outlook's 'Name' <addr>
    return name.strip()


def _unicode_domain(address: str) -> str:
    local, at, domain = address.rpartition("@")
    if not at or "xn--" not in domain.lower():
        return address
    labels = []
    for label in domain.split("."):
        if label.lower().startswith("xn--"):
            try:
                label = label[4:].encode("ascii").decode("punycode")
            except (UnicodeError, ValueError):
                pass
        labels.append(label)
    return f"{local}@{'.'.join(labels)}"
