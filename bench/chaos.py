"""Kill -9 during uploads, measured from outside: lost, filed twice, answered twice, orphaned, left over (JSON).

`duban run` is started as deployed (its own process, configured by the environment) against the fake Bot API
server running here. M captioned documents from one liaison are queued; the process is killed with SIGKILL N
times while it works through them (each kill at a random moment after a share of the answers arrived), then
started once more and stopped with SIGTERM once every document was answered or nothing moved for a while.

Counted per document (distinct bytes and name): never answered (lost), answered more than once, not filed,
filed more than once; then what the kills left on disk: evidence blobs no row refers to, temporaries, partial
copies, and kept messages never handled. The router fuzz (hostile input) is `bench/fuzz_router.py`.

    .venv/bin/python bench/chaos.py [--uploads 100] [--kills 5] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fakes.telegram_api import FakeTelegram  # noqa: E402

from bot.app import App  # noqa: E402
from bot.config import Settings  # noqa: E402

LIAISON = 4001
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 256 + b"\n%%EOF\n"
QUIET = 20.0  # seconds without a new answer after which the final run is stopped


def _settings(state: Path) -> Settings:
    return Settings(state_dir=state, today=dt.date(2023, 10, 20), _env_file=None)  # type: ignore[call-arg]


async def prepare(state: Path) -> None:
    """Create the database with LIAISON bound to 区水务局 (task 12 is theirs)."""
    app = await App.create(_settings(state))
    code = await app.store.people.create_invite("区水务局", by="chaos", now=app.clock.utcnow(), days=7)
    person = await app.store.people.identify("telegram", str(LIAISON), name="李", chat_id=str(LIAISON),
                                             now=app.clock.utcnow())
    await app.store.people.bind(person, code, now=app.clock.utcnow())
    await app.close()


def answers(tg: FakeTelegram) -> list[str]:
    return [str(m.get("text", "")) for m in tg.sent_to(LIAISON)]


async def run(uploads: int, kills: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    state = Path(tempfile.mkdtemp(prefix="duban-chaos-"))
    await prepare(state)
    names = [f"佐证材料{i:03d}.pdf" for i in range(uploads)]
    async with FakeTelegram() as tg:
        for i, name in enumerate(names):
            tg.send_document(LIAISON, PDF + i.to_bytes(4, "big"), name, "application/pdf", caption="12-3")
        env = dict(os.environ, DUBAN_STATE_DIR=str(state), DUBAN_TODAY="2023-10-20", DUBAN_TELEGRAM_TOKEN=tg.token,
                   DUBAN_TELEGRAM_API_URL=tg.root, DUBAN_HTTP_PORT="0", DUBAN_SCHEDULER="false",
                   DUBAN_TELEGRAM_RATE_LIMIT="false")
        env.pop("DUBAN_DATABASE_URL", None)

        async def start() -> asyncio.subprocess.Process:
            return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", env=env, cwd=ROOT,
                                                        stdin=asyncio.subprocess.DEVNULL,
                                                        stderr=asyncio.subprocess.DEVNULL)

        killed_at: list[int] = []
        for k in range(kills):
            proc = await start()
            share = (k + 1) * uploads // (kills + 1)
            await tg.wait_for(lambda _sent, share=share: len(answers(tg)) >= share, timeout=120)  # type: ignore[misc]
            await asyncio.sleep(rng.uniform(0, 0.05))  # somewhere inside the handling of a later upload
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            killed_at.append(len(answers(tg)))
        proc = await start()
        last, quiet_since = -1, time.monotonic()
        while time.monotonic() - quiet_since < QUIET:
            now = len(answers(tg))
            if now != last:
                last, quiet_since = now, time.monotonic()
            replied = answers(tg)
            if all(any(f"「{n}」" in a for a in replied) for n in names):
                break
            await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        await proc.wait()
        replies = answers(tg)

    per_name = Counter(n for n in names for a in replies if f"「{n}」" in a)
    app = await App.create(_settings(state))
    try:
        plan = await app.store.plans.plan()
        filed = Counter(f.file_name for f in await app.store.evidence.files(plan.id, 12))
        referenced = await app.store.evidence.hashes()
        blobs = list(app.store.files.blobs())
        unhandled = len(await app.store.intake.unhandled("telegram"))
        partial = len(list(app.store.files.partial_copies()))
    finally:
        await app.close()
    tmp = state / "tmp"
    leftovers = sum(1 for p in tmp.rglob("*") if p.is_file()) if tmp.is_dir() else 0
    return {
        "bench": "chaos-kill-9", "uploads": uploads, "kills": kills, "seed": seed,
        "answers_seen_at_each_kill": killed_at,
        "lost": sum(1 for n in names if per_name[n] == 0),
        "answered_twice": sum(1 for n in names if per_name[n] > 1),
        "not_filed": sum(1 for n in names if filed[n] == 0),
        "filed_twice": sum(1 for n in names if filed[n] > 1),
        "answers_of_those_answered_twice": {n: [a for a in replies if f"「{n}」" in a] for n in names
                                            if per_name[n] > 1},
        "orphaned_blobs": sum(1 for b in blobs if b.name not in referenced),
        "leftover_temporaries": leftovers,
        "partial_copies": partial,
        "kept_never_handled": unhandled,
        "state_dir": str(state),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--uploads", type=int, default=100)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.uploads, args.kills, args.seed)), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
