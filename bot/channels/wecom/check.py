"""`duban wecom check`: what an installer runs on the office machine before anything else.

For each WeCom host duban will use (openws for the 智能机器人, the API host for the self-built app and group
robots), step by step and in the order things fail in a government network: the proxy (when one applies: does it
let the connection through?), the name (DNS), the connection, TLS, the machine's clock against the server's Date
header; then the credentials themselves: the bot subscribes with its BotID and Secret and disconnects at once,
the app fetches an access_token and reads its own settings (which proves the AgentId and the trusted IP).
Every step says in Chinese what is wrong and what to do; the command exits 0 only when every step passed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import unquote, urlsplit

import aiohttp

from bot.actions.base import AppParts
from bot.channels.proxy import DEFAULT_PORTS, SECURE_SCHEMES, proxy_for
from bot.channels.wecom.api import WeComApi, WeComApiError
from bot.channels.wecom.errcodes import describe
from bot.channels.wecom.openws import AuthRefused, try_subscribe

STEP_TIMEOUT = 10.0  # seconds one network step may take before it counts as unreachable
MAX_SKEW = 60.0  # seconds the machine's clock may differ from WeCom's before it is a problem


@dataclass(frozen=True)
class Finding:
    """One step of the check: what was checked, whether it worked, and what it found (in Chinese)."""

    step: str
    ok: bool
    message: str


class Checker:
    """Run the steps, collecting a finding for each; a target whose connection fails is not probed further."""

    def __init__(self, app: AppParts) -> None:
        self.app = app
        self.findings: list[Finding] = []
        self._clock_checked = False

    def add(self, step: str, ok: bool, message: str) -> bool:
        """Record a finding; return whether it passed."""
        self.findings.append(Finding(step, ok, message))
        return ok

    @property
    def ok(self) -> bool:
        """Tell whether every step passed."""
        return bool(self.findings) and all(f.ok for f in self.findings)

    async def run(self) -> list[Finding]:
        """Check every WeCom way configured here."""
        s = self.app.settings
        robots = [c for c in await self.app.store.chats.subscriptions() if c.channel == "wecom-robot"]
        if not (s.wecom_bot_enabled or s.wecom_enabled or robots):
            self.add("config", False, "没有配置企业微信：智能机器人请设置 DUBAN_WECOM_BOT_ID 和 DUBAN_WECOM_BOT_SECRET；"
                                      "自建应用请设置 DUBAN_WECOM_CORP_ID、…_AGENT_ID、…_SECRET、…_TOKEN、…_AES_KEY。")
            return self.findings
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=STEP_TIMEOUT * 2)) as session:
            if s.wecom_bot_enabled and await self.reach("openws", s.wecom_bot_ws_url, session):
                await self.subscribe(session)
            if (s.wecom_enabled or robots) and await self.reach("api", s.wecom_api_url, session) and s.wecom_enabled:
                await self.app_credentials(session)
        return self.findings

    # ---- reaching a host ---------------------------------------------------------------------------
    async def reach(self, name: str, url: str, session: aiohttp.ClientSession) -> bool:
        """Check the way to url's host: proxy or DNS, connection, TLS, then the clock; return whether it is open."""
        parts = urlsplit(url)
        host, secure = parts.hostname or "", parts.scheme in SECURE_SCHEMES
        port = parts.port or DEFAULT_PORTS.get(parts.scheme, 443)
        proxy = proxy_for(url, self.app.settings)
        try:
            if proxy is not None:
                opened = await self._tunnel(name, proxy, host, port)
            else:
                opened = await self._direct(name, host, port)
        except Exception as e:  # reported, not raised: the installer needs the sentence, not a traceback
            return self.add(f"{name}.connect", False, f"检查 {host}:{port} 时出错：{e!r}")
        if opened is None:
            return False
        writer = opened[1]
        try:
            if secure and not await self._tls(name, writer, host):
                return False
        finally:
            writer.close()
            with contextlib.suppress(Exception):  # the peer may have gone already
                await writer.wait_closed()
        await self._clock(f"{'https' if secure else 'http'}://{host}:{port}/", proxy, session)
        return True

    async def _direct(self, name: str, host: str, port: int) -> tuple[asyncio.StreamReader,
                                                                        asyncio.StreamWriter] | None:
        addresses = await self._resolve(f"{name}.dns", host, port, "")
        if addresses is None:
            return None
        try:
            opened = await asyncio.wait_for(asyncio.open_connection(host, port), STEP_TIMEOUT)
        except (OSError, TimeoutError) as e:
            self.add(f"{name}.connect", False, f"连不上 {host}:{port}（{_reason(e)}）。请让网络管理员放行本机到这个地址的出站连接；"
                                               "如果本单位上网必须经过代理，请设置 HTTPS_PROXY（或只给督办助手用的 DUBAN_PROXY）。")
            return None
        self.add(f"{name}.connect", True, f"已连通 {host}:{port}（不经代理）。")
        return opened

    async def _tunnel(self, name: str, proxy: str, host: str, port: int) -> tuple[asyncio.StreamReader,
                                                                                   asyncio.StreamWriter] | None:
        p = urlsplit(proxy)
        proxy_host, proxy_port = p.hostname or "", p.port or 80
        if await self._resolve(f"{name}.proxy_dns", proxy_host, proxy_port, "代理服务器") is None:
            return None
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(proxy_host, proxy_port), STEP_TIMEOUT)
        except (OSError, TimeoutError) as e:
            self.add(f"{name}.proxy", False, f"连不上代理服务器 {proxy_host}:{proxy_port}（{_reason(e)}）。"
                                             "请核对代理地址（HTTPS_PROXY / HTTP_PROXY / DUBAN_PROXY）。")
            return None
        auth = ""
        if p.username:
            token = base64.b64encode(f"{unquote(p.username)}:{unquote(p.password or '')}".encode()).decode()
            auth = f"Proxy-Authorization: Basic {token}\r\n"
        writer.write(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}\r\n".encode())
        try:
            status = await asyncio.wait_for(_read_status(reader), STEP_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as e:
            writer.close()
            self.add(f"{name}.proxy", False, f"代理服务器 {proxy_host}:{proxy_port} 没有正常回应（{_reason(e)}）。")
            return None
        if status != 200:
            writer.close()
            advice = ("代理要求用户名和密码：把代理地址写成 http://用户名:密码@主机:端口。" if status == 407 else
                      f"请让网络管理员在代理上放行 {host}:{port}。")
            self.add(f"{name}.proxy", False, f"代理服务器 {proxy_host}:{proxy_port} 拒绝了到 {host}:{port} 的连接"
                                             f"（HTTP {status}）。{advice}")
            return None
        self.add(f"{name}.proxy", True, f"代理 {proxy_host}:{proxy_port} 放行了到 {host}:{port} 的连接（域名由代理解析）。")
        return reader, writer

    async def _resolve(self, step: str, host: str, port: int, what: str) -> list[str] | None:
        try:
            infos = await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo(host, port,
                                                                                  type=socket.SOCK_STREAM),
                                           STEP_TIMEOUT)
        except (OSError, TimeoutError) as e:
            self.add(step, False, f"无法解析{what}域名 {host}（DNS：{_reason(e)}）。请检查本机的 DNS 设置；"
                                  "政务网内如果只能经代理上网，请设置 HTTPS_PROXY。")
            return None
        addresses = sorted({str(info[4][0]) for info in infos})
        self.add(step, True, f"{what}域名 {host} 解析为 {'、'.join(addresses)}。")
        return addresses

    async def _tls(self, name: str, writer: asyncio.StreamWriter, host: str) -> bool:
        try:
            await asyncio.wait_for(writer.start_tls(ssl.create_default_context(), server_hostname=host), STEP_TIMEOUT)
        except ssl.SSLCertVerificationError as e:
            return self.add(f"{name}.tls", False, f"{host} 的证书校验失败（{e.verify_message}）。常见原因：本机时间不对，"
                                                  "或网络设备在中间替换了证书（请网络管理员放行，不要解密这个域名）。")
        except (OSError, TimeoutError, ssl.SSLError) as e:
            return self.add(f"{name}.tls", False, f"与 {host} 的 TLS 握手失败（{_reason(e)}）。")
        return self.add(f"{name}.tls", True, f"与 {host} 的 TLS 握手成功，证书有效。")

    async def _clock(self, url: str, proxy: str | None, session: aiohttp.ClientSession) -> None:
        """Compare this machine's clock with the server's Date header (once)."""
        if self._clock_checked:
            return
        try:
            async with session.get(url, proxy=proxy, allow_redirects=False) as resp:
                stamp = resp.headers.get("Date", "")
            server = parsedate_to_datetime(stamp)
        except (aiohttp.ClientError, TimeoutError, ValueError, TypeError):
            return  # no Date to compare with: nothing to say about the clock
        self._clock_checked = True
        skew = (self.app.clock.real_utcnow() - server).total_seconds()
        if abs(skew) <= MAX_SKEW:
            self.add("clock", True, f"本机时间与企业微信服务器相差 {abs(skew):.0f} 秒，正常。")
        else:
            self.add("clock", False, f"本机时间比企业微信服务器{'快' if skew > 0 else '慢'}{_duration(abs(skew))}。"
                                     "请校准时间（开启 NTP 自动对时）：时间不对会让证书校验和企业微信回调的时间戳校验失败。")

    # ---- credentials -------------------------------------------------------------------------------
    async def subscribe(self, session: aiohttp.ClientSession) -> None:
        """Subscribe with the configured BotID and Secret, then disconnect (unless a running duban holds it)."""
        s = self.app.settings
        holder = await self.app.store.leases.holder(f"wecom-bot:{s.wecom_bot_id}", self.app.clock.real_utcnow())
        if holder is not None:
            self.add("openws.subscribe", True, f"督办助手进程 {holder} 正持有智能机器人的长连接；为免把它顶下线，"
                                               "没有再订阅一次（它的日志里有“智能机器人长连接已建立”即说明 BotID 和 Secret 无误）。")
            return
        try:
            await try_subscribe(session, s.wecom_bot_ws_url, s.wecom_bot_id, s.wecom_bot_secret,
                                proxy=proxy_for(s.wecom_bot_ws_url, s), within=STEP_TIMEOUT)
        except AuthRefused as e:
            self.add("openws.subscribe", False, f"鉴权失败：企业微信拒绝了智能机器人的 BotID 或 Secret"
                                                f"（{describe(e.errcode, e.errmsg)}）。请核对 DUBAN_WECOM_BOT_ID 和 "
                                                "DUBAN_WECOM_BOT_SECRET（Secret 可在机器人详情页重置），并确认接收消息方式选的是“长连接”。")
        except Exception as e:
            self.add("openws.subscribe", False, f"智能机器人长连接没有建立（{_reason(e)}）。如果经过代理，请确认代理允许 "
                                                "WebSocket（wss）连接。")
        else:
            self.add("openws.subscribe", True, "企业微信接受了智能机器人的 BotID 和 Secret（订阅成功，已断开）。")

    async def app_credentials(self, session: aiohttp.ClientSession) -> None:
        """Fetch an access_token and read the application with it."""
        s = self.app.settings
        api = WeComApi(session, s.wecom_corp_id, s.wecom_secret, s.wecom_agent_id, base_url=s.wecom_api_url,
                       proxy=proxy_for(s.wecom_api_url, s))
        steps: list[tuple[str, Callable[[], Awaitable[object]], str, str]] = [
            ("api.token", api.access_token, "企业ID 和应用 Secret 正确（已取得 access_token）。",
             "取 access_token 失败：{why}。请核对 DUBAN_WECOM_CORP_ID 和 DUBAN_WECOM_SECRET。"),
            ("api.agent", api.agent, f"应用 AgentId {s.wecom_agent_id} 可用，本机出口IP可以调用接口。",
             "读取应用 AgentId " + str(s.wecom_agent_id) + " 失败：{why}。请核对 DUBAN_WECOM_AGENT_ID，"
             "并在应用详情的「企业可信IP」中加入本机的出口IP。"),
        ]
        for step, call, good, bad in steps:
            try:
                await call()
            except WeComApiError as e:
                self.add(step, False, bad.format(why=describe(e.errcode, e.errmsg)))
                return
            except (aiohttp.ClientError, TimeoutError) as e:
                self.add(step, False, bad.format(why=_reason(e)))
                return
            self.add(step, True, good)


async def _read_status(reader: asyncio.StreamReader) -> int:
    """Read a proxy's answer to CONNECT up to its blank line; return the status code."""
    status = int((await reader.readline()).split()[1])
    while (await reader.readline()).strip():
        pass
    return status


def _reason(e: BaseException) -> str:
    if isinstance(e, TimeoutError):
        return f"{STEP_TIMEOUT:.0f} 秒内没有回应"
    if isinstance(e, ConnectionRefusedError):
        return "连接被拒绝"
    if isinstance(e, socket.gaierror):
        return f"域名不存在或 DNS 不可用：{e.strerror}"
    return str(e) or type(e).__name__


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f" {seconds:.0f} 秒"
    if seconds < 7200:
        return f"约 {seconds / 60:.0f} 分钟"
    return f"约 {seconds / 3600:.0f} 小时"


def as_json(checker: Checker) -> dict[str, object]:
    """Return the findings for scripts: {"ok": …, "checks": [{"step", "ok", "message"}, …]}."""
    return {"ok": checker.ok, "checks": [asdict(f) for f in checker.findings]}

