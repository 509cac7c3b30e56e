"""An HTTP proxy on 127.0.0.1, as a district office's network runs one, recording every connection it carries.

It speaks both forms a client uses: CONNECT host:port (https and wss: the client then talks TLS through the
tunnel) and an absolute-URI request line (`GET http://host:port/path`, for http and ws), which it forwards in
origin form; a WebSocket upgrade is then tunnelled as bytes. Each connection is recorded as (method, target,
path) before anything is forwarded, so a test can tell that every connection went this way. `refuse` answers
every request with that status instead (403: the proxy forbids the host; 407: it wants credentials).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Seen:
    """One connection the proxy was asked for."""

    method: str  # CONNECT, or the forwarded request's method
    target: str  # host:port
    path: str  # the forwarded request's path and query ("" for CONNECT)


class CountingProxy:
    """Record and carry connections; `url` is what to configure as HTTP_PROXY / HTTPS_PROXY / DUBAN_PROXY."""

    def __init__(self, *, refuse: int = 0) -> None:
        self.refuse = refuse
        self.seen: list[Seen] = []
        self.url = ""
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> CountingProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    def to(self, root: str) -> list[Seen]:
        """Return the connections made to the server at root (`http://127.0.0.1:PORT`)."""
        target = urlsplit(root).netloc
        return [s for s in self.seen if s.target == target]

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(self._carry(reader, writer))
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)

    async def _carry(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                return
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ", 2)
            path = ""
            if method != "CONNECT":
                url = urlsplit(target)
                path = url.path + (f"?{url.query}" if url.query else "")
                target = f"{url.hostname}:{url.port or 80}"
            self.seen.append(Seen(method, target, path))
            if self.refuse:
                writer.write(f"HTTP/1.1 {self.refuse} Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                             .encode())
                await writer.drain()
                return
            host, _, port = target.rpartition(":")
            try:
                up_reader, up_writer = await asyncio.open_connection(host, int(port))
            except OSError:
                writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                await writer.drain()
                return
            if method == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                up_writer.write(_origin_form(method, path, version, lines[1:]))
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                up_writer.close()
        finally:
            writer.close()


def _origin_form(method: str, path: str, version: str, headers: list[str]) -> bytes:
    """Rewrite a proxied request for the origin; one request per connection unless it is a WebSocket upgrade."""
    kept = [h for h in headers if h and not h.lower().startswith(("proxy-", "keep-alive"))]
    if not any(h.lower().startswith("upgrade:") for h in kept):
        kept = [h for h in kept if not h.lower().startswith("connection:")] + ["Connection: close"]
    return ("\r\n".join([f"{method} {path or '/'} {version}", *kept]) + "\r\n\r\n").encode("latin-1")


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while chunk := await source.read(64 * 1024):
            sink.write(chunk)
            await sink.drain()
    except ConnectionError:
        pass
    finally:
        sink.close()
