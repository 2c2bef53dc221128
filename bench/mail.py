"""Test mail for the benchmarks: ~2 KB text messages and ~100 KB messages with an attachment.

Every message is different (subject, recipients, words) so the free-text and filtered
searches have something real to find; bodies are built once into a small pool and
spliced with per-message headers, so the generator spends its time sending, not building.
"""

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime
from email.utils import format_datetime

WORDS = (
    "invoice order shipping account password reset welcome newsletter receipt payment "
    "refund delivery tracking update report weekly monthly summary meeting agenda "
    "project release deploy review comment ticket support billing subscription trial "
    "upgrade coupon discount confirm verify signup profile security alert notice "
    "reminder calendar invite booking flight hotel dinner lunch coffee budget forecast"
).split()
# Rare words, one per message (by id), for searches that match a handful of messages.
RARE = [f"zq{n:04d}" for n in range(1000)]
RECIPIENTS = [f"user{n:03d}@example.test" for n in range(100)]
SENDERS = [f"app{n:02d}@sender.example" for n in range(10)]
CRLF = b"\r\n"


def _paragraphs(rng: random.Random, size: int) -> str:
    """Plain text of about ``size`` characters in lines of at most 72, none starting with '.'."""
    out: list[str] = []
    total = 0
    line: list[str] = []
    while total < size:
        word = rng.choice(WORDS)
        line.append(word)
        if sum(len(w) + 1 for w in line) > 68:
            text = " ".join(line).capitalize() + ","
            out.append(text)
            total += len(text) + 2
            line = []
            if rng.random() < 0.2:
                out.append("")
    return "\r\n".join(out)


def _headers(i: int, kind: str) -> tuple[bytes, str, str]:
    rng = random.Random(i)
    sender = SENDERS[i % len(SENDERS)]
    rcpt = RECIPIENTS[i % len(RECIPIENTS)]
    subject = f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} #{i} {RARE[i % len(RARE)]}"
    date = format_datetime(datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    lines = [
        f"From: Sender App <{sender}>",
        f"To: Person {i % len(RECIPIENTS)} <{rcpt}>",
        f"Subject: {subject}",
        f"Date: {date}",
        f"Message-ID: <bench.{i}.{kind}@sender.example>",
        "MIME-Version: 1.0",
        "X-Mailer: catcher-bench",
    ]
    return ("\r\n".join(lines) + "\r\n").encode(), sender, rcpt


class Corpus:
    """Messages by number: ``message(i)`` is (mail_from, rcpt_to, content without the final dot)."""

    def __init__(self, kind: str, pool: int = 64) -> None:
        if kind not in ("2k", "100k"):
            raise ValueError(f"kind: expected 2k or 100k, got {kind!r}")
        self.kind = kind
        rng = random.Random(7)
        self._bodies = [self._body(rng, n) for n in range(pool)]

    def _body(self, rng: random.Random, n: int) -> bytes:
        if self.kind == "2k":
            text = _paragraphs(rng, 1640)
            return (
                "Content-Type: text/plain; charset=utf-8\r\n"
                "Content-Transfer-Encoding: 8bit\r\n\r\n" + text + "\r\n"
            ).encode()
        text = _paragraphs(rng, 1500)
        blob = rng.randbytes(72 * 1024)
        encoded = base64.encodebytes(blob).replace(b"\n", b"\r\n")
        boundary = f"==bench{n:04d}=="
        return (
            (
                f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
                f"--{boundary}\r\n"
                "Content-Type: text/plain; charset=utf-8\r\n\r\n"
                f"{text}\r\n"
                f"--{boundary}\r\n"
                f'Content-Type: application/pdf; name="report-{n}.pdf"\r\n'
                f'Content-Disposition: attachment; filename="report-{n}.pdf"\r\n'
                "Content-Transfer-Encoding: base64\r\n\r\n"
            ).encode()
            + encoded
            + f"--{boundary}--\r\n".encode()
        )

    def message(self, i: int) -> tuple[str, str, bytes]:
        head, sender, rcpt = _headers(i, self.kind)
        return sender, rcpt, head + self._bodies[i % len(self._bodies)]

    def average_size(self, sample: int = 200) -> float:
        return sum(len(self.message(i)[2]) for i in range(sample)) / sample
