"""catcher's DATA reader fed piece by piece, and catcher against stock aiosmtpd over TCP."""

from __future__ import annotations

import asyncio
import random
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from catcher.server import Catcher
from catcher.smtp_protocol import read_data

from .conftest import TEST_SETTINGS, mail_params, run_async

# ---------------------------------------------------------------------------------------
# read_data, driven through a real asyncio.StreamReader fed in pieces. Over TCP the
# kernel decides where reads split; here each piece is surely a read of its own.


class Reader(asyncio.StreamReader):
    """A StreamReader that counts the times the DATA reader ran past its limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit=limit)
        self.overruns = 0

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        try:
            return await super().readuntil(separator)
        except asyncio.LimitOverrunError:
            self.overruns += 1
            raise


@dataclass(frozen=True)
class Fed:
    content: bytes | None  # None: over the size cap
    rest: bytes  # what read_data left in the stream
    waiting: tuple[bool, ...]  # after each piece: was read_data still reading?
    overruns: int


async def drive(pieces: Sequence[bytes], *, limit: int, size_limit: int | None) -> Fed:
    reader = Reader(limit)
    task = asyncio.create_task(read_data(reader, size_limit))
    waiting = []
    for piece in pieces:
        reader.feed_data(piece)
        # The task's wake-up was queued by feed_data, before this yield, so read_data takes
        # all it can from this piece before the next one arrives.
        await asyncio.sleep(0)
        waiting.append(not task.done())
    reader.feed_eof()  # a reader still waiting now fails with IncompleteReadError
    content = await task
    return Fed(content, await reader.read(), tuple(waiting), reader.overruns)


def feed(pieces: Sequence[bytes], *, limit: int = 2**16, size_limit: int | None = None) -> Fed:
    return run_async(drive(pieces, limit=limit, size_limit=size_limit))


def reference(stream: bytes, size_limit: int | None = None) -> tuple[bytes | None, bytes]:
    """RFC 5321 4.5.2 read a CRLF line at a time, as aiosmtpd does: content and what follows."""
    lines = []
    start = 0
    while True:
        end = stream.index(b"\r\n", start) + 2
        line, start = stream[start:end], end
        if line == b".\r\n":
            break
        lines.append(line)
    if size_limit and sum(map(len, lines)) > size_limit:
        return None, stream[start:]
    return b"".join(line[1:] if line[:1] == b"." else line for line in lines), stream[start:]


# (as sent after DATA, what is stored)
DATA_CASES = [
    (b".\r\n", b""),
    (b"\r\n.\r\n", b"\r\n"),
    (b"..\r\n.\r\n", b".\r\n"),
    (b"..x\r\n.\r\n", b".x\r\n"),
    (b".\n.\r\n.\r\n", b"\n.\r\n"),
    (b"a\r\n..b\r\n...\r\nend.\r\n.\r\n", b"a\r\n.b\r\n..\r\nend.\r\n"),
    (b"end.\r\n.\r\n", b"end.\r\n"),
    # Bare LF and bare CR are data, and so is a dot between them.
    (b"a\nb\rc\r\r\n\n\r\n.\r\n", b"a\nb\rc\r\r\n\n\r\n"),
    (b"a\n.\nb\r.\rc\r\n.\r\n", b"a\n.\nb\r.\rc\r\n"),
    # Only CRLF.CRLF ends the data. In CRLF.LF the dot opens a line, so it is unstuffed.
    (b"a\n.\r\nb\r\n.\r\n", b"a\n.\r\nb\r\n"),
    (b"a\r\n.\nb\r\n.\r\n", b"a\r\n\nb\r\n"),
    (b"a\r.\r\nb\r\n.\r\n", b"a\r.\r\nb\r\n"),
]


@pytest.mark.parametrize(("wire", "content"), DATA_CASES)
def test_dots_and_line_ends_whole_and_a_byte_at_a_time(wire: bytes, content: bytes) -> None:
    assert reference(wire) == (content, b"")
    stream = wire + b"QUIT\r\n"
    whole = feed([stream])
    assert (whole.content, whole.rest) == (content, b"QUIT\r\n")
    bytewise = feed([stream[i : i + 1] for i in range(len(stream))])
    assert (bytewise.content, bytewise.rest) == (content, b"QUIT\r\n")
    # Still reading after every byte but the last of the terminator, and not after.
    assert bytewise.waiting == tuple(i < len(wire) - 1 for i in range(len(stream)))


@pytest.mark.parametrize("limit", [4, 2**16], ids=["tiny-stream-limit", "default"])
@pytest.mark.parametrize(
    ("wire", "content"),
    [
        (b"Subject: split\r\n\r\nbody\r\n.\r\n", b"Subject: split\r\n\r\nbody\r\n"),
        (b"a.\r\n..b\r\n.\r\n", b"a.\r\n.b\r\n"),
        (b".\r\n", b""),
        (b"x\n.\r\ny\r.\r\nz\r\n.\r\n", b"x\n.\r\ny\r.\r\nz\r\n"),
    ],
)
def test_the_end_is_found_wherever_two_reads_split_it(
    wire: bytes, content: bytes, limit: int
) -> None:
    stream = wire + b"QUIT\r\n"
    for cut in range(1, len(stream)):
        fed = feed([stream[:cut], stream[cut:]], limit=limit)
        assert (fed.content, fed.rest) == (content, b"QUIT\r\n"), cut
        assert fed.waiting == (cut < len(wire), False), cut


@pytest.mark.parametrize(
    ("pieces", "content"),
    [
        # ".<CRLF>" found beyond the limit: asyncio reports the bytes before it, and the
        # CRLF that ends them makes the dot that follows the end.
        ([b"x" * 40 + b"\r\n.\r\nQUIT\r\n"], b"x" * 40 + b"\r\n"),
        ([b"x" * 40 + b"\n.\r\ny\r\n.\r\nQUIT\r\n"], b"x" * 40 + b"\n.\r\ny\r\n"),
        # No ".<CRLF>" in sight: asyncio keeps back two bytes (".\r" here), so the CRLF
        # before them must be carried over to the three-byte read that follows.
        ([b"x" * 40 + b"\r\n.\r", b"\nQUIT\r\n"], b"x" * 40 + b"\r\n"),
        ([b"x" * 40 + b"\n.\r", b"\ny\r\n.\r\nQUIT\r\n"], b"x" * 40 + b"\n.\r\ny\r\n"),
        ([b"y" * 30, b"y" * 30 + b"\r", b"\n.", b"\r\nQUIT\r\n"], b"y" * 60 + b"\r\n"),
        ([b"z" * 40 + b"\r\n", b"..z\r\n.\r\nQUIT\r\n"], b"z" * 40 + b"\r\n.z\r\n"),
    ],
)
def test_lines_longer_than_the_stream_limit(pieces: list[bytes], content: bytes) -> None:
    fed = feed(pieces, limit=16)
    assert fed.overruns > 0
    assert (fed.content, fed.rest) == (content, b"QUIT\r\n")


SIZE = 64


@pytest.mark.parametrize(
    ("wire", "content"),
    [
        (b"y" * 62 + b"\r\n.\r\n", b"y" * 62 + b"\r\n"),
        (b"y" * 63 + b"\r\n.\r\n", None),
        # The cap counts bytes as sent: a stuffed dot counts.
        (b".." + b"y" * 60 + b"\r\n.\r\n", b"." + b"y" * 60 + b"\r\n"),
        (b".." + b"y" * 61 + b"\r\n.\r\n", None),
        ((b"y" * 30 + b"\r\n") * 10 + b".\r\n", None),
        # One line far beyond the stream limit: over the cap (552), not "too long" (500).
        (b"y" * 1000 + b"\r\n.\r\n", None),
        (b".\r\n", b""),
    ],
)
def test_size_cap_counts_as_aiosmtpd_and_reads_to_the_end(
    wire: bytes, content: bytes | None
) -> None:
    assert reference(wire, SIZE) == (content, b"")
    stream = wire + b"QUIT\r\n"
    for pieces in ([stream], [stream[i : i + 7] for i in range(0, len(stream), 7)]):
        # The stream limit catcher uses with this cap.
        fed = feed(pieces, limit=SIZE + 2, size_limit=SIZE)
        assert (fed.content, fed.rest) == (content, b"QUIT\r\n")
    assert feed([stream], limit=SIZE + 2, size_limit=None).content == reference(wire)[0]


def test_random_streams_read_as_rfc_5321_says() -> None:
    rng = random.Random(5321)
    tokens = [b".", b"..", b"\r", b"\n", b"\r\n", b"x", b"yy", b".\r\n", b"\r\n.", b"\r\n.\r"]
    overruns = 0

    async def run_all() -> None:
        nonlocal overruns
        for _ in range(3000):
            body = b"".join(rng.choices(tokens, k=rng.randint(0, 24)))
            stream = body + b"\r\n.\r\nQUIT\r\n"
            limit = rng.choice([1, 2, 3, 5, 8, 64])
            size_limit = rng.choice([None, 0, rng.randint(1, len(stream))])
            cuts = sorted(rng.sample(range(1, len(stream)), rng.randint(0, 6)))
            pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
            fed = await drive(pieces, limit=limit, size_limit=size_limit)
            overruns += fed.overruns
            expected = reference(stream, size_limit)
            assert (fed.content, fed.rest) == expected, (pieces, limit, size_limit)

    run_async(run_all())
    assert overruns > 0


# ---------------------------------------------------------------------------------------
# The same bytes over loopback TCP to catcher and to aiosmtpd's own SMTP class.

LIMIT = 2 * 1024 * 1024  # both servers' message size cap; the corpus fits under it
STOCK_LINE_LIMIT = SMTP.line_length_limit  # 1001: a longer line gets aiosmtpd's 500


class Recorder:
    """A bare aiosmtpd handler that keeps what aiosmtpd read, as it read it."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.envelopes: list[tuple[str | None, list[str]]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.original_content, bytes)
        self.messages.append(envelope.original_content)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


class StockServer:
    """aiosmtpd's SMTP, unmodified, on port 0 on a loop in its own thread.

    Not aiosmtpd's Controller: its readiness probe dials port 0 (see DESIGN.md).
    """

    def __init__(self) -> None:
        self.recorder = Recorder()
        self.loop = asyncio.new_event_loop()

        def factory() -> SMTP:
            # The constructor options catcher passes that bear on parsing, nothing else.
            return SMTP(
                self.recorder,
                data_size_limit=LIMIT,
                enable_SMTPUTF8=True,
                hostname="stock.test",
                loop=self.loop,
            )

        self.thread = threading.Thread(target=self.loop.run_forever, name="stock-aiosmtpd")
        self.thread.start()
        listening = self.loop.create_server(factory, "127.0.0.1", 0)
        self.server = asyncio.run_coroutine_threadsafe(listening, self.loop).result(timeout=30)
        host, port = self.server.sockets[0].getsockname()[:2]
        self.address: tuple[str, int] = (host, port)

    def stop(self) -> None:
        async def close() -> None:
            self.server.close()
            await self.server.wait_closed()

        try:
            asyncio.run_coroutine_threadsafe(close(), self.loop).result(timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=30)
            self.loop.close()


@dataclass
class Pair:
    catcher: Catcher
    stock: StockServer

    def catcher_messages(self) -> list[bytes]:
        return [m.raw for m in reversed(self.catcher.store.query(limit=100).messages)]


@pytest.fixture(scope="module")
def both() -> Iterator[Pair]:
    stock = StockServer()
    try:
        with Catcher(replace(TEST_SETTINGS, max_message_size=LIMIT)) as catcher:
            yield Pair(catcher, stock)
    finally:
        stock.stop()


@pytest.fixture
def pair(both: Pair) -> Pair:
    """Catcher and stock aiosmtpd with the same size cap, both holding no mail."""
    both.catcher.store.clear()
    both.stock.recorder.messages.clear()
    both.stock.recorder.envelopes.clear()
    return both


Step = Sequence[bytes]  # writes, then one reply is read


def mail(*writes: bytes) -> list[Step]:
    """One mail transaction: MAIL, RCPT, DATA, then the data in the writes given."""
    return [
        [b"MAIL FROM:<a@example.com>\r\n"],
        [b"RCPT TO:<b@example.com>\r\n"],
        [b"DATA\r\n"],
        writes,
    ]


def converse(address: tuple[str, int], steps: Sequence[Step]) -> list[int]:
    """Greeting, EHLO, the steps, QUIT: every reply code, read until the server hangs up."""
    with socket.create_connection(address, timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with sock.makefile("rb") as replies:

            def reply() -> int | None:
                line = replies.readline()
                while line[3:4] == b"-":
                    line = replies.readline()
                return int(line[:3]) if line else None

            codes = [reply()]
            for step in [[b"EHLO differ.test\r\n"], *steps, [b"QUIT\r\n"]]:
                for write in step:
                    sock.sendall(write)
                codes.append(reply())
            while (code := reply()) is not None:  # replies a smuggled command would get
                codes.append(code)
    assert None not in codes
    return [code for code in codes if code is not None]


def both_converse(pair: Pair, steps: Sequence[Step]) -> tuple[list[int], list[int]]:
    return converse(pair.catcher.smtp_address, steps), converse(pair.stock.address, steps)


OK = [220, 250, 250, 250, 354, 250, 221]


def smuggle(fake_end: bytes) -> bytes:
    """A message that ends early for a server that takes ``fake_end`` as CRLF.CRLF."""
    return (
        b"Subject: real\r\n\r\nhello"
        + fake_end
        + b"MAIL FROM:<evil@example.com>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\n"
        + b"Subject: smuggled\r\n\r\nevil\r\n.\r\n"
    )


def writes_of(data: bytes, sizes: Sequence[int]) -> list[bytes]:
    pieces, start, turn = [], 0, 0
    while start < len(data):
        size = sizes[turn % len(sizes)]
        pieces.append(data[start : start + size])
        start, turn = start + size, turn + 1
    return pieces


CRAFTED = {
    **{ascii(wire)[2:-1]: [wire] for wire, _ in DATA_CASES},
    **{
        f"smuggle-{name}": [smuggle(end)]
        for name, end in [
            ("LF.LF", b"\n.\n"),
            ("CR.CR", b"\r.\r"),
            ("LF.CRLF", b"\n.\r\n"),
            ("CRLF.LF", b"\r\n.\n"),
            ("CR.CRLF", b"\r.\r\n"),
            ("CRLF.CR", b"\r\n.\r"),
        ]
    },
    "end-in-its-own-writes": [b"Subject: a\r\n\r\nbody\r", b"\n", b".", b"\r", b"\n"],
    "many-small-writes": writes_of(
        b"Subject: w\r\n\r\n..a\r\nb.\r\nc\n.\r\n\r\r\n" * 20 + smuggle(b"\n.\n"), [1, 2, 3, 5, 7]
    ),
}


@pytest.mark.parametrize("writes", CRAFTED.values(), ids=CRAFTED.keys())
def test_crafted_data_is_read_as_stock_aiosmtpd_reads_it(pair: Pair, writes: list[bytes]) -> None:
    wire = b"".join(writes)
    content, rest = reference(wire)
    assert rest == b""
    catcher_codes, stock_codes = both_converse(pair, mail(*writes))
    assert catcher_codes == stock_codes == OK
    assert pair.catcher_messages() == pair.stock.recorder.messages == [content]
    if b"smuggled" in wire:  # the smuggled commands are the message's text
        assert b"MAIL FROM:<evil@example.com>\r\nRCPT TO:<victim@example.com>\r\n" in content


def sized(size: int) -> bytes:
    """DATA of exactly ``size`` bytes as sent, every line dot-stuffed and under 1001 bytes."""
    line = b".." + b"s" * 96 + b"\r\n"
    head = b".." + b"h" * (96 + size % 100) + b"\r\n"
    return head + line * (size // 100 - 1)


def test_size_cap_is_stock_aiosmtpd_cap_and_the_session_goes_on(pair: Pair) -> None:
    exact, over = sized(LIMIT), sized(LIMIT + 1)
    assert (len(exact), len(over)) == (LIMIT, LIMIT + 1)
    steps = mail(exact + b".\r\n") + mail(over + b".\r\n") + mail(b"small\r\n.\r\n")
    catcher_codes, stock_codes = both_converse(pair, steps)
    assert catcher_codes == stock_codes == [220, 250, *OK[2:6], *OK[2:5], 552, *OK[2:]]
    unstuffed = exact.replace(b"\r\n..", b"\r\n.")[1:]
    assert pair.catcher_messages() == pair.stock.recorder.messages == [unstuffed, b"small\r\n"]


def test_long_lines_are_kept_where_stock_aiosmtpd_answers_500(pair: Pair) -> None:
    # The documented difference: catcher takes lines of any length up to the message cap;
    # aiosmtpd refuses lines over 1001 bytes. A line past catcher's stream limit is over
    # the cap, so catcher answers 552 where aiosmtpd says 500.
    long = b"<p>" + b"w" * 1500 + b"</p>\r\n"
    endless = b"e" * (LIMIT + 100) + b"\r\n"
    steps = mail(long + b".\r\n") + mail(endless + b".\r\n") + mail(b"after\r\n.\r\n")
    catcher_codes, stock_codes = both_converse(pair, steps)
    assert catcher_codes == [*OK[:6], *OK[2:5], 552, *OK[2:]]
    assert stock_codes == [*OK[:5], 500, *OK[2:5], 500, *OK[2:]]
    assert pair.catcher_messages() == [long, b"after\r\n"]
    assert pair.stock.recorder.messages == [b"after\r\n"]


@pytest.mark.parametrize("path", mail_params())
def test_real_mail_sent_as_is_is_read_as_stock_aiosmtpd_reads_it(pair: Pair, path: Path) -> None:
    # The file's own line ends, dot-stuffed, with the final CRLF a raw client would add.
    raw = path.read_bytes()
    content = raw if raw.endswith(b"\r\n") else raw + b"\r\n"
    stuffed = b"." * content.startswith(b".") + content.replace(b"\r\n.", b"\r\n..")
    assert len(stuffed) <= LIMIT
    catcher_codes, stock_codes = both_converse(pair, mail(stuffed + b".\r\n"))
    assert catcher_codes == OK
    assert pair.catcher_messages() == [content]
    # aiosmtpd splits at CRLF only, so a bare-LF file is one long line to it.
    longest = max(len(line) + 2 for line in stuffed.split(b"\r\n")[:-1])
    if longest > STOCK_LINE_LIMIT:
        assert stock_codes == [*OK[:5], 500, 221]
        assert pair.stock.recorder.messages == []
    else:
        assert stock_codes == OK
        assert pair.stock.recorder.messages == [content]


@pytest.mark.parametrize(
    "path",
    [
        "<a@example.com>",
        "<first.last+tag@sub-domain.example.org>",
        "  <a@example.com>  ",
        "<a@example.com>\tSIZE=100",
        "<a@example.com> BODY=8BITMIME",
        "<a@example.com>x",
        "<a@example.com> (a comment)",
        "<a@example.com> NOSUCH=1",
        "<A/b=c?d{e}|f~@EXAMPLE.com>",
        '<"quoted local"@example.com>',
        "<a..b@example.com>",
        "<a@example.com.>",
        "<a@[192.0.2.1]>",
        "<@relay.example:a@example.com>",
        "<jörg@bücher.example>",
        "a@example.com",
        "<a@example.com",
        "<>",
        "<a b@example.com>",
    ],
)
@pytest.mark.parametrize("command", ["MAIL FROM:", "RCPT TO:"])
def test_addresses_parse_as_stock_aiosmtpd_parses_them(pair: Pair, command: str, path: str) -> None:
    line = f"{command}{path}\r\n".encode()
    steps: list[Step] = [[b"MAIL FROM:<s@example.com>\r\n"]] if command == "RCPT TO:" else []
    steps += [[line], [b"RCPT TO:<r@example.com>\r\n"], [b"DATA\r\n"], [b"x\r\n.\r\n"]]
    catcher_codes, stock_codes = both_converse(pair, steps)
    assert catcher_codes == stock_codes
    stored = pair.catcher.store.latest()
    if stored is None:
        assert pair.stock.recorder.envelopes == []
    else:
        envelope = (stored.envelope.mail_from, list(stored.envelope.rcpt_tos))
        assert pair.stock.recorder.envelopes == [envelope]
