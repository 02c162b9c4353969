"""The server's protocol guards: what keeps slow, idle, broken or greedy clients from
holding `digitnet serve`. The routes are in server.py; nothing here knows about digits.

    BodyLimit          ASGI middleware for request bodies: a size limit (413 before reading
                       a body declared too large, or as soon as a counted one passes it),
                       a limit on each pause (BODY_TIMEOUT) and on the whole body
                       (BODY_DEADLINE; QUICK_DEADLINE for small ones), and body slots: at
                       most BODY_SLOTS bodies are received at once, plus QUICK_SLOTS kept
                       for small bodies (a drawn digit), so a flood of slow uploads gets
                       503 instead of keeping /healthz or a normal predict waiting
    guarded_protocol   uvicorn's h11 protocol with a deadline for the request headers, a
                       limit on open connections, JSON for framing errors, and a lingering
                       close: a connection closed while the client is still sending a body
                       first reads and discards it for a while (as nginx does), so every
                       client (urllib and requests included) reads its 4xx instead of a
                       connection reset
    send_error, write_raw_error   a JSON error answer, through ASGI or onto the socket

The numbers are module constants, read when used (tests shorten them). Memory: bodies
being received take at most (BODY_SLOTS + QUICK_SLOTS) x MAX_BODY_BYTES, and a lingering
connection keeps nothing it reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from http import HTTPStatus
from typing import Any

MAX_BODY_BYTES = 2 * 1024 * 1024  # larger request bodies get 413
HEADER_TIMEOUT = 10.0  # seconds a connection has to send a whole request line and headers
BODY_TIMEOUT = 10.0  # seconds a client may pause while sending a body before getting 408
BODY_DEADLINE = 60.0  # seconds a whole body may take (4 s for 2 MB over a 4 Mbit/s uplink)
QUICK_BODY_BYTES = 64 * 1024  # bodies declared this small are "quick" (a drawn digit: ~5 kB)
QUICK_DEADLINE = 10.0  # seconds a quick body may take
BODY_SLOTS = 32  # bodies received at once; one more gets 503 ...
QUICK_SLOTS = 16  # ... unless it is quick and one of these slots, kept for such, is free
KEEP_ALIVE_TIMEOUT = 5.0  # seconds an idle keep-alive connection stays open after a response
# Connections open at once (lingering ones apart); one more gets 503 at once. Memory is
# bounded by the body slots, so this can be well above them: requests without a body
# (/healthz, the page) stay answered while every body slot is taken.
MAX_CONNECTIONS = 128
LINGER_SECONDS = 5.0  # a lingering close reads and discards for at most this long ...
LINGER_IDLE = 2.0  # ... or until the client sends nothing for this long, or closes
MAX_LINGERING = 128  # connections lingering at once; beyond, a close is immediate


async def send_error(send: Any, status: int, message: str, close: bool = False) -> None:
    """Answer a raw ASGI request with {"error": message}; `close` ends the connection
    (used when the rest of the body is left unread: the protocol lingers)."""
    body = json.dumps({"error": message}, allow_nan=False).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def write_raw_error(transport: Any, status: int, message: str) -> None:
    """Write a whole HTTP/1.1 error response {"error": message} and close the connection
    (for when no request was parsed, so h11 cannot frame one)."""
    reason = HTTPStatus(status).phrase
    body = json.dumps({"error": message}, allow_nan=False).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode()
    transport.write(head + body)
    transport.close()


# ---------------------------------------------------------------------------------------
# Bodies: size, pauses, deadline, slots


class BodySlots:
    """How many bodies are being received: `take(declared)` returns the kind of slot
    given ("body" or "quick") or None when none is free; `give_back(kind)` frees it."""

    def __init__(self) -> None:
        self.in_use = {"body": 0, "quick": 0}

    def take(self, declared: int | None) -> str | None:
        quick = declared is not None and declared <= QUICK_BODY_BYTES
        for kind, size in (("body", BODY_SLOTS), ("quick", QUICK_SLOTS)):
            if self.in_use[kind] < size and (kind == "body" or quick):
                self.in_use[kind] += 1
                return kind
        return None

    def give_back(self, kind: str) -> None:
        self.in_use[kind] -= 1


class BodyLimit:
    """ASGI middleware: every request body is read here, whole, before the app sees it.

    A declared Content-Length over `max_bytes` gets 413 before any of the body is read;
    otherwise (no Content-Length, or chunked) the body is counted and refused as soon as
    it passes the limit. A body that pauses for BODY_TIMEOUT, or is not complete within
    its deadline (QUICK_DEADLINE for a declared size up to QUICK_BODY_BYTES, else
    BODY_DEADLINE), gets 408. A body needs a slot (`BodySlots`) while it is received; with
    none free it gets 503 at once. An accepted body (at most `max_bytes`, held in memory)
    is passed on to the app in one piece. Refusals close the connection: the rest of the
    body is never read (by the app; the protocol's lingering close discards it).
    """

    def __init__(self, app: Any, max_bytes: int = MAX_BODY_BYTES):
        self.app = app
        self.max_bytes = max_bytes
        self.slots = BodySlots()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await send_error(send, 400, f"invalid Content-Length header {declared!r}")
                return
            declared = int(declared)
            if declared > self.max_bytes:
                await self._too_large(send, f", got {declared:,}")
                return
        if declared == 0 or (declared is None and b"transfer-encoding" not in headers):
            body = await self._read(receive, send, None, BODY_DEADLINE)  # empty
        else:
            kind = self.slots.take(declared)
            if kind is None:
                await send_error(send, 503, f"the server is receiving {BODY_SLOTS} uploads "
                                            f"already; try again shortly", close=True)
                return
            try:
                quick = declared is not None and declared <= QUICK_BODY_BYTES
                body = await self._read(receive, send, declared,
                                        QUICK_DEADLINE if quick else BODY_DEADLINE)
            finally:
                self.slots.give_back(kind)
        if body is None:
            return  # refused, or the client went away
        delivered = False

        async def replay() -> dict:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _read(self, receive: Any, send: Any, declared: int | None,
                    deadline: float) -> bytes | None:
        """The whole body, or None after answering 408/413 (or when the client left)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline
        chunks, size = [], 0
        while True:
            left = end - loop.time()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, min(BODY_TIMEOUT, left)))
            except asyncio.TimeoutError:
                if left <= BODY_TIMEOUT:
                    why = f"request body not received within {deadline:g} seconds"
                else:
                    why = f"request body stalled: nothing received for {BODY_TIMEOUT:g} seconds"
                await send_error(send, 408, why, close=True)
                return None
            if message["type"] == "http.disconnect":
                return None  # the client went away; nothing to answer
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._too_large(send, "")
                return None
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _too_large(self, send: Any, got: str) -> None:
        await send_error(send, 413, f"request body too large: the limit is "
                                    f"{self.max_bytes:,} bytes{got}", close=True)


# ---------------------------------------------------------------------------------------
# The connection: headers deadline, connection limit, lingering close


class _LingeringTransport:
    """A transport whose close() lingers when the client may still be sending (see
    `guarded_protocol`); everything else goes to the real transport."""

    def __init__(self, transport: Any, protocol: Any):
        self._transport = transport
        self._protocol = protocol

    def close(self) -> None:
        if not self._protocol.start_lingering():
            self._transport.close()

    def is_closing(self) -> bool:
        return self._protocol.lingering or self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def guarded_protocol() -> type:
    """uvicorn's h11 HTTP protocol with what it lacks for facing slow or broken clients.

    - A connection must deliver a complete request line and headers within HEADER_TIMEOUT
      seconds of opening, and of each response (uvicorn's keep-alive timer restarts with
      every byte, so a client dribbling a header byte at a time would hold it forever);
      otherwise it gets 408 with a JSON error (or, if it sent nothing, is just closed).
    - A request h11 cannot parse (bad framing, no Host) gets 400 with a JSON error, like
      every other refusal, rather than uvicorn's text/plain.
    - A connection beyond MAX_CONNECTIONS open at once gets 503 with a JSON error and is
      closed before it can send anything.
    - Lingering close: when the server closes a connection whose client is still sending
      a request body (a refused upload), or that it refused on connecting, it first sends
      its answer and the end of its side of the stream, then reads and discards what comes
      for up to LINGER_SECONDS (less if the client pauses LINGER_IDLE seconds or closes).
      Closing at once would make the client's next send fail with a connection reset, and
      a client busy sending (Python's urllib and requests) would never read the 4xx.
    Bodies are timed by BodyLimit, idle keep-alive by uvicorn (KEEP_ALIVE_TIMEOUT). The
    h11 protocol is used even when httptools is installed, so these hold everywhere.
    """
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    lingering: set[Any] = set()  # connections lingering now, across the server

    class GuardedH11Protocol(H11Protocol):
        header_deadline: asyncio.TimerHandle | None = None
        lingering = False
        linger_after_refusal = False  # the connection was refused before any request
        linger_timers: tuple[asyncio.TimerHandle, ...] = ()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(_LingeringTransport(transport, self))
            self.raw_transport = transport
            if len(self.connections) - len(lingering) > MAX_CONNECTIONS:  # this one included
                self.linger_after_refusal = True
                write_raw_error(self.transport, 503, f"the server has {MAX_CONNECTIONS} "
                                                     f"connections open; try again shortly")
                return
            self._arm_header_deadline()

        def data_received(self, data: bytes) -> None:
            if self.lingering:  # read and dropped: the answer has been sent
                self._arm_linger_idle()
                return
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:  # the headers are in
                self._disarm_header_deadline()

        def eof_received(self) -> bool | None:
            if self.lingering:  # the client has sent everything: now close
                self.raw_transport.close()
            return super().eof_received()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm_header_deadline()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_deadline()
            for timer in self.linger_timers:
                timer.cancel()
            lingering.discard(self)
            super().connection_lost(exc)

        def send_400_response(self, msg: str) -> None:
            write_raw_error(self.transport, 400, f"invalid HTTP request: {msg}")

        def start_lingering(self) -> bool:
            """Begin a lingering close, if this connection calls for one; True if begun."""
            if self.lingering:
                return True
            sending = self.conn.their_state is h11.SEND_BODY or self.linger_after_refusal
            if not sending or len(lingering) >= MAX_LINGERING \
                    or self.raw_transport.is_closing():
                return False
            self.lingering = True
            lingering.add(self)
            self._disarm_header_deadline()
            with contextlib.suppress(OSError, RuntimeError):
                self.raw_transport.write_eof()  # after what is buffered: our answer
            self.raw_transport.resume_reading()
            self.linger_timers = (self.loop.call_later(LINGER_SECONDS, self._stop_lingering),)
            self._arm_linger_idle()
            return True

        def _arm_linger_idle(self) -> None:
            for timer in self.linger_timers[1:]:
                timer.cancel()
            self.linger_timers = (*self.linger_timers[:1],
                                  self.loop.call_later(LINGER_IDLE, self._stop_lingering))

        def _stop_lingering(self) -> None:
            self.raw_transport.close()

        def _arm_header_deadline(self) -> None:
            self._disarm_header_deadline()
            self.header_deadline = self.loop.call_later(HEADER_TIMEOUT, self._headers_too_slow)

        def _disarm_header_deadline(self) -> None:
            if self.header_deadline is not None:
                self.header_deadline.cancel()
                self.header_deadline = None

        def _headers_too_slow(self) -> None:
            self.header_deadline = None
            if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
                return
            if self.conn.trailing_data[0]:  # part of a request came: tell the client
                write_raw_error(self.transport, 408, f"request headers not received within "
                                                     f"{HEADER_TIMEOUT:g} seconds")
            else:
                self.raw_transport.close()  # idle since connecting or since the last response

    return GuardedH11Protocol
