"""python-telegram-bot's requests on aiohttp instead of httpx: the Bot API client duban's Telegram channel uses.

PTB's documented extension point is `telegram.request.BaseRequest`: it hands `do_request` a URL, a method and
the parameters, and turns the status and body that come back into its exceptions itself (`RetryAfter` from a
429's `retry_after`, `Forbidden`, `BadRequest`, ...), so Telegram's errors read exactly as with PTB's own
`HTTPXRequest`. What this class maps is the transport's own failures: a timeout becomes `TimedOut`, any other
client error `NetworkError`.

Why not httpx: per request, httpx's connection pool walks every open connection, and its client costs several
times aiohttp's CPU for the same POST (bench/bench_telegram.py); duban already runs on aiohttp.

The timeouts mean what they mean to `HTTPXRequest`: `connect` to establish a connection (through the proxy),
`read` for each read of the answer, `write` for each write of the request (`media_write` when files go up),
`pool` to wait for a free connection when `connection_pool_size` are busy (then `TimedOut`, the request not
sent). aiohttp has no write timeout, so an upload is streamed in chunks and each chunk must be taken by the
socket within it; a body without files (a few KB) is written at once and never waits on the socket.
The proxy is the one bot.channels.proxy chose; like duban's other sessions, this one reads no environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

UPLOAD_CHUNK = 64 * 1024  # bytes of an upload handed to the socket at a time (each within the write timeout)
POOL_TIMEOUT_MESSAGE = ("Pool timeout: All connections in the connection pool are occupied. Request was *not* sent "
                        "to Telegram. Consider adjusting the connection pool size or the pool timeout.")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
OVERALL, PER_PRIVATE, PER_GROUP = (30, 1.0), (1, 1.0), (20, 60.0)  # Telegram's limits: (messages, seconds)
IDLE_CHATS = 1000  # chats' windows kept before those with nothing in them are dropped


class AiohttpRequest(BaseRequest):
    """Make the Bot API's HTTP requests with aiohttp, with HTTPXRequest's parameters and meaning."""

    def __init__(self, connection_pool_size: int = 256, read_timeout: float | None = 5.0,
                 write_timeout: float | None = 5.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 1.0, proxy: str | None = None,
                 media_write_timeout: float | None = 20.0) -> None:
        self._read = read_timeout
        self._write = write_timeout
        self._connect = connect_timeout
        self._pool = pool_timeout
        self._media_write = media_write_timeout
        self._proxy = proxy
        # the pool is counted here rather than by aiohttp's connector, so that waiting for a connection has its own
        # timeout and message (aiohttp folds it into the connect timeout)
        self._slots = asyncio.Semaphore(connection_pool_size)
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        """Return the default read timeout (PTB adds it to a long poll's own timeout)."""
        return self._read

    async def initialize(self) -> None:
        """Open the session (inside the running loop, where aiohttp wants it)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False,
                                                  headers={"User-Agent": self.USER_AGENT})

    async def shutdown(self) -> None:
        """Close the session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
                         write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
                         connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
                         pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        """Send one request; return the status and the body for PTB to read."""
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        uploads = bool(request_data and request_data.contains_files)
        read = self._read if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = self._connect if isinstance(connect_timeout, DefaultValue) else connect_timeout
        pool = self._pool if isinstance(pool_timeout, DefaultValue) else pool_timeout
        write = (self._media_write if uploads else self._write) if isinstance(write_timeout, DefaultValue) \
            else write_timeout
        try:
            async with asyncio.timeout(pool):
                await self._slots.acquire()
        except TimeoutError as e:
            raise TimedOut(POOL_TIMEOUT_MESSAGE) from e
        try:
            timeout = aiohttp.ClientTimeout(total=None, connect=connect, sock_read=read)
            async with asyncio.timeout(None) as writing:
                body, headers = await self._body(request_data, writing, write)
                async with session.request(method, url, data=body, headers=headers, timeout=timeout,
                                           proxy=self._proxy) as response:
                    return response.status, await response.read()
        except TimeoutError as e:  # aiohttp's own timeouts are TimeoutErrors too
            raise TimedOut from e
        except aiohttp.ClientError as e:
            raise NetworkError(f"aiohttp.{e.__class__.__name__}: {e}") from e
        finally:
            self._slots.release()

    async def _body(self, request_data: RequestData | None, writing: asyncio.Timeout,
                    write: float | None) -> tuple[bytes | AsyncIterator[bytes] | None, dict[str, str] | None]:
        """Encode the parameters as HTTPXRequest does: a form, or multipart with the files (streamed, timed)."""
        if request_data is None:
            return None, None
        if not request_data.contains_files:
            return request_data.url_encoded_parameters().encode(), FORM
        form = aiohttp.FormData(quote_fields=False)
        for name, value in request_data.json_parameters.items():
            form.add_field(name, value)
        for name, (file_name, content, mime_type) in request_data.multipart_data.items():
            form.add_field(name, content, filename=file_name, content_type=mime_type)
        multipart = form()
        encoded = await multipart.as_bytes()
        headers = {"Content-Type": multipart.content_type, "Content-Length": str(len(encoded))}
        return _timed_chunks(encoded, writing, write), headers


async def _timed_chunks(body: bytes, writing: asyncio.Timeout, write: float | None) -> AsyncIterator[bytes]:
    """Yield an upload chunk by chunk; the socket must take each within `write` seconds, or the request times out."""
    loop = asyncio.get_running_loop()
    try:
        for start in range(0, len(body), UPLOAD_CHUNK):
            if write is not None:
                writing.reschedule(loop.time() + write)
            yield body[start:start + UPLOAD_CHUNK]  # aiohttp asks for the next chunk once this one is written
    finally:
        with contextlib.suppress(RuntimeError):  # the request already ended (timed out, or closed)
            writing.reschedule(None)


class Pace:
    """Keep a bot within Telegram's flood limits, so that a burst of pushes goes out at the limit without a 429.

    Telegram allows about 30 messages a second overall, 1 a second in one private chat and 20 a minute in one group.
    A message holds a place in each window it counts in from when it is sent until a window's length after its
    answer came: the server saw it somewhere in between, so counting from the answer can never put more in a window
    than allowed, however the network delays a request. The private-chat limit holds for pushes only: a reply's
    parts follow the user's message at once, as Telegram lets them. `hold` stops every message for the seconds
    Telegram asked (a 429's retry_after).
    """

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._overall = _Window(*OVERALL)
        self._chats: dict[str, _Window] = {}
        self._changed = asyncio.Condition()
        self._held_until = 0.0

    @contextlib.asynccontextmanager
    async def message(self, chat_id: str, *, group: bool, pushed: bool) -> AsyncIterator[None]:
        """Wait until one more message to the chat fits every limit, and hold its place while it is sent."""
        windows = [self._overall]
        if group or pushed:
            window = self._chats.get(chat_id)
            if window is None:
                window = self._chats[chat_id] = _Window(*(PER_GROUP if group else PER_PRIVATE))
            windows.append(window)
        for window in windows:
            window.waiting += 1  # a chat's window is never dropped while a message waits in it
        try:
            async with self._changed:
                while (ready := max(self._held_until, *(w.free_at(self._monotonic()) for w in windows))) \
                        > self._monotonic():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(None if ready == math.inf else ready - self._monotonic()):
                            await self._changed.wait()
                for window in windows:
                    window.busy += 1
        finally:
            for window in windows:
                window.waiting -= 1
        try:
            yield
        finally:
            done = self._monotonic()
            for window in windows:
                window.busy -= 1
                window.done.append(done)
            if len(self._chats) > IDLE_CHATS:
                self._chats = {k: w for k, w in self._chats.items() if not w.idle(done)}
            async with self._changed:
                self._changed.notify_all()

    def hold(self, seconds: float) -> None:
        """Send nothing for `seconds` (Telegram said so)."""
        self._held_until = max(self._held_until, self._monotonic() + seconds)


class _Window:
    """The messages counted in one limit: `most` per `period` seconds."""

    def __init__(self, most: int, period: float) -> None:
        self.most = most
        self.period = period
        self.waiting = 0  # waiting for room
        self.busy = 0  # being sent
        self.done: deque[float] = deque()  # when answered, oldest first

    def free_at(self, now: float) -> float:
        """Return when one more message fits: `now` if it does, inf if only an answer can make room."""
        self._forget(now)
        if self.busy + len(self.done) < self.most:
            return now
        return self.done[0] + self.period if self.done else math.inf

    def idle(self, now: float) -> bool:
        """Tell whether nothing counts in this window any more."""
        self._forget(now)
        return not self.waiting and not self.busy and not self.done

    def _forget(self, now: float) -> None:
        while self.done and self.done[0] <= now - self.period:
            self.done.popleft()
