"""Which proxy an outbound connection goes through, decided in one place for every channel.

Government networks often reach the internet only through an HTTP proxy. The rule is the usual one (curl,
Python's urllib, the official 智能机器人 Node SDK): `HTTPS_PROXY` for https and wss, `HTTP_PROXY` for http and
ws, lower-case names first; `DUBAN_PROXY` replaces both for duban alone; a host listed in `NO_PROXY` is reached
directly. aiohttp applies none of these to WebSockets by itself (it looks for WS_PROXY / WSS_PROXY), and
duban's sessions do not read the environment at all: every caller passes `proxy=proxy_for(url, settings)`.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from bot.config import Settings

SECURE_SCHEMES = frozenset({"https", "wss"})
DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


def proxy_for(url: str, settings: Settings) -> str | None:
    """Return the proxy a connection to url goes through, or None to connect directly."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host or exempt(host, parts.port or DEFAULT_PORTS.get(parts.scheme, 0), settings.no_proxy):
        return None
    proxy = settings.proxy or (settings.https_proxy if parts.scheme in SECURE_SCHEMES else settings.http_proxy)
    proxy = proxy.strip()
    if not proxy:
        return None
    return proxy if "://" in proxy else f"http://{proxy}"  # "10.0.0.1:3128", as many offices write it


def exempt(host: str, port: int, no_proxy: str) -> bool:
    """Tell whether NO_PROXY lists the host: `*`, a domain and its subdomains, an address or network, with a port."""
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        name, wanted_port = _split_port(entry)
        if wanted_port is not None and wanted_port != port:
            continue
        if _in_network(host, name):
            return True
        name = name.lstrip("*").lstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def _split_port(entry: str) -> tuple[str, int | None]:
    """Split `host:port` (`[v6]:port` too); a bare IPv6 address or a network has no port."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    host, colon, port = entry.rpartition(":")
    if colon and port.isdigit() and ":" not in host:
        return host, int(port)
    return entry, None


def _in_network(host: str, entry: str) -> bool:
    try:
        return ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False)
    except ValueError:  # a name, not an address
        return False
