"""Settings and what they create in the state directory."""

from __future__ import annotations

import threading
from pathlib import Path

from conftest import make_settings

from bot.config import Settings, secret_for


def start_together(settings: Settings, processes: int) -> tuple[list[bytes], list[BaseException]]:
    """Ask for the signing key from several threads released at the same instant, as processes starting at once."""
    start = threading.Barrier(processes)
    keys: list[bytes] = []
    errors: list[BaseException] = []

    def starting() -> None:
        start.wait()
        try:
            keys.append(secret_for(settings))
        except BaseException as e:  # a process that could not start
            errors.append(e)

    threads = [threading.Thread(target=starting) for _ in range(processes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return keys, errors


def test_processes_starting_together_share_one_signing_key(tmp_path: Path) -> None:
    """Several `duban run` on one state directory create the key once and all sign with it.

    Two processes starting at once both wrote `secret.tmp`: one failed to start (its rename found the file gone)
    or each kept a key of its own, so a link signed by one was refused by the other.
    """
    for attempt in range(20):
        state = tmp_path / str(attempt)
        keys, errors = start_together(make_settings(state, f"sqlite+aiosqlite:///{tmp_path}/unused.db"), 8)
        assert errors == [] and len(set(keys)) == 1, (errors, len(set(keys)))
        assert (state / "secret.key").read_bytes().strip() == keys[0]
        assert [p.name for p in state.iterdir()] == ["secret.key"]  # no temporary left behind
