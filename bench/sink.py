"""A bare aiosmtpd sink: answers 250 to every message and keeps nothing.

This is the ceiling for any catcher built on aiosmtpd. It is started the way catcher
starts its own SMTP server (a socket bound to port 0 handed to ``loop.create_server``,
since aiosmtpd's Controller cannot use port 0) on the loop asked for, and prints
``SINK 127.0.0.1:PORT loop=NAME`` once it listens. ``--parse`` makes it parse every
message fully with ``email.policy.default`` first, the cost of eager parsing.

aiosmtpd sizes its StreamReader's limit by ``line_length_limit`` (1001 by default), and a
StreamReader pauses reading from the socket whenever more than twice its limit is
buffered: a bare sink therefore stops and restarts reading about every 2 KB. catcher
raises that limit (long lines count only against the message size), so ``--wide`` gives
the sink the same 50 MB limit: the ceiling for catcher's own configuration.

    python -m bench.sink --event-loop asyncio|uvloop [--wide] [--parse]
"""

from __future__ import annotations

import argparse
import asyncio
import email.parser
import email.policy
import signal
import socket
import sys
from typing import Any

from aiosmtpd.smtp import SMTP


class Sink:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


class ParsingSink:
    def __init__(self) -> None:
        self.parser = email.parser.BytesParser(policy=email.policy.default)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = self.parser.parsebytes(envelope.content)
        body = message.get_body(("plain", "html"))
        if body is not None:
            body.get_content()
        for part in message.iter_attachments():
            part.get_filename()
        return "250 OK"


def new_loop(choice: str) -> asyncio.AbstractEventLoop:
    if choice == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--event-loop", choices=("asyncio", "uvloop"), default="asyncio")
    options.add_argument("--parse", action="store_true", help="parse each message fully")
    options.add_argument("--wide", action="store_true", help="stream limit of 50 MB, as catcher")
    options.add_argument("--host", default="127.0.0.1")
    args = options.parse_args()
    loop = new_loop(args.event_loop)
    asyncio.set_event_loop(loop)
    handler = ParsingSink() if args.parse else Sink()

    class WideSMTP(SMTP):
        line_length_limit = 50 * 1024 * 1024 + 2

    protocol = WideSMTP if args.wide else SMTP

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, 0))
    sock.listen(128)
    sock.setblocking(False)
    server = loop.run_until_complete(
        loop.create_server(lambda: protocol(handler, hostname="sink", loop=loop), sock=sock)
    )
    host, port = sock.getsockname()[:2]
    print(f"SINK {host}:{port} loop={type(loop).__module__.split('.')[0]}", flush=True)
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    loop.add_signal_handler(signal.SIGINT, loop.stop)
    try:
        loop.run_forever()
    finally:
        server.close()
        loop.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
