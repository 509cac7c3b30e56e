"""WeCom callback speed through a running Runtime and the fake WeCom API, as JSON.

The callback keeps each message in the database (one INSERT into `inbound`, committed) before it
acknowledges it, so its floor is not the crypto alone. Figures, per second unless named otherwise:
- baseline_decrypt_parse_insert: in-process, no HTTP: signature check + AES decrypt + both XML parses
  + one committed INSERT of the message into `inbound` (plain SQLAlchemy Core, same database), what
  every acknowledgement must do at least; sequential and with 16 in flight;
- crypto_only_decrypt_parse: the same without the insert (how much of the floor is the database);
- http_floor_404_sequential: the same POSTs to an unrouted path (404), client and server in one loop;
- callback_ack: encrypted POSTs to /wecom/callback answered (verify, decrypt, parse, keep, schedule,
  empty 200), sequential and with 16 in flight. The messages are LOCATION events, whose background
  work is marking the kept message handled, so the rate is the callback path's, not the core's;
- e2e_post_to_message_send_p50_ms: "我单位有哪些任务" from a bound liaison, POST sent -> the answer's
  message/send reaching the fake, over sequential messages from 20 liaisons in turn.
Each is measured 3 times (interleaved: one of each per round), given as min and median. The database
is SQLite, or PostgreSQL with BENCH_DATABASE_URL (see benchdb.py).
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

from benchdb import BACKEND, drop_databases, fresh_database
from fakes.wecom_api import FakeWeCom
from sqlalchemy import Table, insert

from bot.app import App
from bot.channels.wecom.crypto import WeComCrypto, build_encrypted_xml, parse_callback_xml
from bot.config import Settings
from bot.core.clock import SHANGHAI, Clock
from bot.runner import Runtime
from bot.store.tables import IntakeRow

CORP, SECRET, TOKEN = "wwbench0000000001", "bench-secret", "benchToken"
AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")
CRYPTO = WeComCrypto(TOKEN, AES_KEY, CORP)
_ids = itertools.count(1)
LIAISONS = [f"liaison{i:02d}" for i in range(20)]
INBOUND: Table = IntakeRow.__table__  # type: ignore[attr-defined]


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


def decrypt_parse(query: dict[str, str], body: bytes) -> dict[str, str]:
    """Verify, decrypt and parse a callback as the channel does."""
    env = parse_callback_xml(body)
    inner = CRYPTO.decrypt(query["msg_signature"], query["timestamp"], query["nonce"], env["Encrypt"])
    return parse_callback_xml(inner.encode())


def crypto_only(n: int) -> float:
    """Return in-process verify + decrypt + parse operations per second (no database)."""
    prepared = [envelope(text(f"u{i % 20}", "我单位有哪些任务")) for i in range(n)]
    t0 = time.perf_counter()
    for query, body in prepared:
        decrypt_parse(query, body)
    return n / (time.perf_counter() - t0)


async def baseline(app: App, n: int, concurrency: int) -> float:
    """Return in-process verify + decrypt + parse + one committed insert into `inbound` per second."""
    prepared = iter([envelope(location(f"u{i % 20}")) for i in range(n)])

    async def worker() -> None:
        for query, body in prepared:
            msg = decrypt_parse(query, body)
            async with app.store.engine.begin() as conn:
                await conn.execute(insert(INBOUND).values(key=f"baseline:{next(_ids)}", channel="wecom",
                                                          payload=msg, received_at=app.clock.utcnow()))

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
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


async def main(n: int, repeats: int) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="duban-bench-wecom-"))
    url = await fresh_database("wecom", tmp)
    runs: dict[str, list[float]] = {}

    def record(name: str, value: float) -> None:
        runs.setdefault(name, []).append(value)

    async with FakeWeCom(corp_id=CORP, secret=SECRET) as fake, aiohttp.ClientSession() as http:
        settings = Settings(state_dir=tmp, database_url=url, coordinators="wecom:jieshuiban", wecom_corp_id=CORP,
                            wecom_agent_id=1000002, wecom_secret=SECRET, wecom_token=TOKEN, wecom_aes_key=AES_KEY,
                            wecom_api_url=fake.base_url, http_port=0, scheduler=False,
                            _env_file=None)  # type: ignore[call-arg]
        app = await App.create(settings, Clock(tz=SHANGHAI))
        try:
            async with Runtime(app) as rt:
                url_cb = f"{rt.http_url}/wecom/callback"
                # WeCom takes at most 30 messages a minute for one member (duban waits beyond that), so
                # the questions rotate over 20 liaisons as a real unit's traffic would
                for user in LIAISONS:
                    code = await app.store.people.create_invite("区教育局", by="bench", now=app.clock.utcnow(), days=7)
                    query, body = envelope(text(user, f"/bind {code}"))
                    before = len(fake.sent)
                    async with http.post(url_cb, params=query, data=body) as resp:
                        assert resp.status == 200
                    await fake.wait_sent(before + 1)
                    assert "绑定成功" in str(fake.sent[-1]["text"]["content"])

                for _ in range(repeats):
                    record("crypto_only_decrypt_parse_per_s", crypto_only(n * 5))
                    record("baseline_decrypt_parse_insert_per_s_sequential", await baseline(app, n * 5, 1))
                    record("baseline_decrypt_parse_insert_per_s_16_in_flight", await baseline(app, n * 5, 16))
                    # the same POSTs to a path with no route: aiohttp client + server in one loop, nothing else
                    record("http_floor_404_per_s_sequential",
                           await ack_rate(http, f"{rt.http_url}/no-such-path", n * 5, 1, expect=404))
                    record("callback_ack_per_s_sequential", await ack_rate(http, url_cb, n * 5, 1))
                    record("callback_ack_per_s_16_in_flight", await ack_rate(http, url_cb, n * 5, 16))
                    e2e = []
                    for i in range(n):
                        before = len(fake.sent)
                        query, body = envelope(text(LIAISONS[i % len(LIAISONS)], "我单位有哪些任务"))
                        t0 = time.perf_counter()
                        async with http.post(url_cb, params=query, data=body) as resp:
                            assert resp.status == 200
                        await fake.wait_sent(before + 1, timeout=30)
                        e2e.append(time.perf_counter() - t0)
                    assert "区教育局" in str(fake.sent[-1]["text"]["content"])
                    record("e2e_post_to_message_send_p50_ms", statistics.median(e2e) * 1e3)
        finally:
            await app.close()
            await drop_databases([url])
    out: dict[str, object] = {"bench": "wecom", "python": sys.version.split()[0], "database": BACKEND, "n": n,
                              "repeats": repeats}
    for name, values in runs.items():
        out[name] = {"min": round(min(values), 1), "median": round(statistics.median(values), 1)}
    ack = statistics.median(runs["callback_ack_per_s_16_in_flight"])
    out["ack_16_vs_baseline_16_median"] = round(
        ack / statistics.median(runs["baseline_decrypt_parse_insert_per_s_16_in_flight"]), 3)
    out["ack_sequential_vs_baseline_sequential_median"] = round(
        statistics.median(runs["callback_ack_per_s_sequential"])
        / statistics.median(runs["baseline_decrypt_parse_insert_per_s_sequential"]), 3)
    return out


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    print(json.dumps(asyncio.run(main(count, int(sys.argv[2]) if len(sys.argv) > 2 else 3)), ensure_ascii=False,
                     indent=2))
