"""WeCom callback speed through a running Runtime and the fake WeCom API, as JSON.

Figures:
- baseline: signature check + AES decrypt + both XML parses in-process (the crypto floor, no HTTP);
- HTTP floor: the same POSTs to an unrouted path (404), client and server sharing one event loop;
- callback ack rate: encrypted POSTs to /wecom/callback answered per second (verify, decrypt, parse,
  schedule, empty 200), sequential and with 16 in flight. The messages are LOCATION events, whose
  background work is one dedupe insert, so the rate is the callback path's, not the core's;
- end to end: "我单位有哪些任务" from a bound liaison, POST sent → the answer's message/send reaching
  the fake, p50/p99 over sequential messages from 20 liaisons in turn.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes.wecom_api import FakeWeCom

from bot.app import App
from bot.channels.wecom.crypto import WeComCrypto, build_encrypted_xml, parse_callback_xml
from bot.config import Settings
from bot.core.clock import SHANGHAI, Clock
from bot.runner import Runtime

CORP, SECRET, TOKEN = "wwbench0000000001", "bench-secret", "benchToken"
AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")
CRYPTO = WeComCrypto(TOKEN, AES_KEY, CORP)
_ids = itertools.count(1)
LIAISONS = [f"liaison{i:02d}" for i in range(20)]


def stats(samples: list[float]) -> dict[str, float]:
    """Return p50/p99/mean in milliseconds."""
    s = sorted(samples)
    return {"p50_ms": round(s[len(s) // 2] * 1e3, 3), "p99_ms": round(s[max(int(len(s) * 0.99) - 1, 0)] * 1e3, 3),
            "mean_ms": round(statistics.fmean(s) * 1e3, 3), "n": len(s)}


def envelope(fields: dict[str, str]) -> tuple[dict[str, str], bytes]:
    """Encrypt a message as WeCom would and return (query, body)."""
    ts, nonce = str(int(time.time())), str(next(_ids))
    inner = "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()) + "</xml>"
    enc, sig = CRYPTO.encrypt(inner, nonce, ts)
    return {"msg_signature": sig, "timestamp": ts, "nonce": nonce}, build_encrypted_xml(enc, sig, ts, nonce, CORP,
                                                                                         "1000002")


def text(user: str, content: str) -> dict[str, str]:
    return {"ToUserName": CORP, "FromUserName": user, "CreateTime": str(int(time.time())), "MsgType": "text",
            "Content": content, "MsgId": str(next(_ids) + 10**15), "AgentID": "1000002"}


def location(user: str) -> dict[str, str]:
    return {"ToUserName": CORP, "FromUserName": user, "CreateTime": str(next(_ids) + 10**9), "MsgType": "event",
            "Event": "LOCATION", "Latitude": "22.7", "Longitude": "114.3", "Precision": "30", "AgentID": "1000002"}


def baseline(n: int) -> float:
    """Return in-process verify + decrypt + parse operations per second."""
    prepared = [envelope(text(f"u{i % 20}", "我单位有哪些任务")) for i in range(n)]
    t0 = time.perf_counter()
    for query, body in prepared:
        env = parse_callback_xml(body)
        inner = CRYPTO.decrypt(query["msg_signature"], query["timestamp"], query["nonce"], env["Encrypt"])
        parse_callback_xml(inner.encode())
    return n / (time.perf_counter() - t0)


async def ack_rate(http: aiohttp.ClientSession, url: str, n: int, concurrency: int, expect: int = 200) -> float:
    """POST n LOCATION events, `concurrency` at a time; return acknowledged callbacks per second."""
    prepared = [envelope(location(f"u{i % 20}")) for i in range(n)]
    queue = iter(prepared)

    async def worker() -> None:
        for query, body in queue:
            async with http.post(url, params=query, data=body) as resp:
                assert resp.status == expect, resp.status
                await resp.read()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - t0)


async def main(n: int) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="duban-bench-wecom-"))
    async with FakeWeCom(corp_id=CORP, secret=SECRET) as fake, aiohttp.ClientSession() as http:
        settings = Settings(state_dir=tmp, coordinators="wecom:jieshuiban", wecom_corp_id=CORP, wecom_agent_id=1000002,
                            wecom_secret=SECRET, wecom_token=TOKEN, wecom_aes_key=AES_KEY,
                            wecom_api_url=fake.base_url, http_port=0, scheduler=False,
                            _env_file=None)  # type: ignore[call-arg]
        app = await App.create(settings, Clock(tz=SHANGHAI))
        try:
            async with Runtime(app) as rt:
                url = f"{rt.http_url}/wecom/callback"
                # WeCom takes at most 30 messages a minute for one member (duban waits beyond that), so
                # the questions rotate over 20 liaisons as a real unit's traffic would
                for user in LIAISONS:
                    code = await app.store.people.create_invite("区教育局", by="bench", now=app.clock.utcnow(), days=7)
                    query, body = envelope(text(user, f"/bind {code}"))
                    before = len(fake.sent)
                    async with http.post(url, params=query, data=body) as resp:
                        assert resp.status == 200
                    await fake.wait_sent(before + 1)
                    assert "绑定成功" in str(fake.sent[-1]["text"]["content"])

                e2e = []
                for i in range(n):
                    before = len(fake.sent)
                    query, body = envelope(text(LIAISONS[i % len(LIAISONS)], "我单位有哪些任务"))
                    t0 = time.perf_counter()
                    async with http.post(url, params=query, data=body) as resp:
                        assert resp.status == 200
                    await fake.wait_sent(before + 1, timeout=30)
                    e2e.append(time.perf_counter() - t0)
                assert "区教育局" in str(fake.sent[-1]["text"]["content"])

                # the same POSTs to a path with no route: aiohttp client + server in one loop, nothing else
                floor = await ack_rate(http, f"{rt.http_url}/no-such-path", n * 5, 1, expect=404)
                sequential = await ack_rate(http, url, n * 5, 1)
                parallel = await ack_rate(http, url, n * 5, 16)
        finally:
            await app.close()
    base = baseline(n * 5)
    return {
        "bench": "wecom", "python": sys.version.split()[0], "n": n,
        "baseline_decrypt_parse_per_s": round(base),
        "http_floor_404_per_s_sequential": round(floor),
        "callback_ack_per_s_sequential": round(sequential),
        "callback_ack_per_s_16_in_flight": round(parallel),
        "ack_vs_baseline": round(parallel / base, 3),
        "e2e_post_to_message_send": stats(e2e),
    }


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    print(json.dumps(asyncio.run(main(count)), ensure_ascii=False, indent=2))
