"""The morning burst: reminders and check-ins for 2,000 liaisons and reports to groups, through the fake Bot API that
holds a bot to Telegram's flood limits (30 messages a second overall, 1 a second per private chat, 20 a minute per
group; over a limit it answers 429 with retry_after). Prints JSON.

Issue 25's targets: at least 95% of Telegram's 30 messages a second, zero 429s, each chat's pushes in the order
they were pushed.

All pushes are stored first, as the morning's sweep writes them (each group's report in several messages, then a
reminder for every liaison, then a check-in for every fourth); then duban starts (`Runtime`, as `duban run`) and its
outbox sends them through the Telegram channel. The groups' reports come first because a group's 21st message
must wait a minute after its first: stored last, they would add that minute after the liaisons' burst whatever the
sender did. Figures: messages a second from the first push's arrival
at the server to the last's, that as a share of 30 a second, the 429s answered, the time from start to the last
push and the least that time could be at 30 a second (each group's messages beyond 20 wait for its minute), and
how many chats got their pushes out of order.

Usage: bench_push.py [LIAISONS [GROUPS [PER_GROUP]]]  (defaults 2000 10 25)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from benchdb import BACKEND, drop_databases, fresh_database  # noqa: E402
from fakes.telegram_api import FLOOD_GROUP, FLOOD_OVERALL, FakeTelegram  # noqa: E402

from bot.app import App  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.core.messages import ChatKind, ChatRef, Push, Reply  # noqa: E402
from bot.runner import Runtime  # noqa: E402

FIRST_LIAISON = 100000
FIRST_GROUP = -1000100
CHECK_IN_EVERY = 4  # one liaison in four also owes this month's check-in
REMINDER = "【提醒】任务{n}「推进再生水利用」将于2023年10月31日到期，尚有佐证材料未提交。请发送「任务{n}」查看并上传。"
CHECK_IN = "【进展报送】请于本周五前报送任务{n}本月进展：发送「报送{n}」加一句话即可。"
REPORT = "【月度通报】第{part}部分：各单位任务推进情况（区节水办）。"


def pushes(liaisons: int, groups: int, per_group: int) -> list[Push]:
    """The morning's pushes in the order the sweep writes them."""
    out = [Push(ChatRef("telegram", str(FIRST_GROUP - g), ChatKind.GROUP), Reply(REPORT.format(part=k + 1)),
                f"g:{g}:{k}") for g in range(groups) for k in range(per_group)]
    out += [Push(ChatRef("telegram", str(FIRST_LIAISON + i)), Reply(REMINDER.format(n=i % 60 + 1)), f"r:{i}")
            for i in range(liaisons)]
    out += [Push(ChatRef("telegram", str(FIRST_LIAISON + i)), Reply(CHECK_IN.format(n=i % 60 + 1)), f"c:{i}")
            for i in range(0, liaisons, CHECK_IN_EVERY)]
    return out


def least_seconds(messages: int, per_group: int) -> float:
    """The soonest the last push can arrive: the first 30 at once, then 30 a second (any second holds at most 30),
    and a group's 21st message a minute after its first."""
    overall = max(0, messages - FLOOD_OVERALL[0]) / FLOOD_OVERALL[0] * FLOOD_OVERALL[1]
    most, period = FLOOD_GROUP
    return max(overall, (per_group - 1) // most * period if per_group else 0.0)


async def main(liaisons: int, groups: int, per_group: int) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="duban-bench-push-"))
    url = await fresh_database("push", state)
    burst = pushes(liaisons, groups, per_group)
    try:
        async with FakeTelegram(token="900001:PUSH", flood_limits=True) as tg:
            settings = Settings(state_dir=state, database_url=url, telegram_token=tg.token,  # type: ignore[call-arg]
                                telegram_api_url=tg.root, http_port=0, scheduler=False, proxy="", https_proxy="",
                                http_proxy="", no_proxy="", _env_file=None)
            app = await App.create(settings)
            try:
                for push in burst:
                    await app.outbox.push(push)
                t0 = time.monotonic()
                async with Runtime(app):
                    await tg.wait_for(lambda sent: len(sent) >= len(burst), timeout=len(burst) / 10 + 120)
                    last = time.monotonic()
            finally:
                await app.close()
            arrivals = [t for t, _chat in tg.arrivals]
            flood = sum(1 for e in tg.errors if e[1] == 429)
            wanted: dict[str, list[str]] = {}
            for push in burst:
                wanted.setdefault(push.to.chat_id, []).append(push.reply.text)
            out_of_order = sum(1 for chat, texts in wanted.items() if [m["text"] for m in tg.sent_to(int(chat))] != texts)
    finally:
        await drop_databases([url])
    span = arrivals[-1] - arrivals[0]
    rate = (len(arrivals) - 1) / span if span else 0.0
    return {"bench": "push", "python": sys.version.split()[0], "database": BACKEND,
            "date": dt.date.today().isoformat(), "liaisons": liaisons, "groups": groups, "per_group": per_group,
            "messages": len(burst), "delivered": len(arrivals),
            "targets": {"share_of_30_per_s": ">= 0.95", "flood_429s": 0, "chats_out_of_order": 0},
            "messages_per_s": round(rate, 2), "share_of_30_per_s": round(rate / FLOOD_OVERALL[0], 3),
            "flood_429s": flood, "seconds_to_last_push": round(last - t0, 2),
            "least_seconds_to_last_push": round(least_seconds(len(burst), per_group), 2),
            "chats_out_of_order": out_of_order}


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    n_liaisons, n_groups, n_per_group = (args + [2000, 10, 25][len(args):])[:3]
    print(json.dumps(asyncio.run(main(n_liaisons, n_groups, n_per_group)), ensure_ascii=False, indent=2))
