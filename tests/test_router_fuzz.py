"""The router's fuzz property (bench/fuzz_router.py) on a bounded, fixed example set, so CI exercises it.

With this seed the property caught, before issue 10, a coordinator's /help longer than WeCom's 600 characters.
"""

from __future__ import annotations

from pathlib import Path

from bench.fuzz_router import run


def test_hostile_messages_are_answered_within_limits_and_refusals_change_nothing(tmp_path: Path) -> None:
    report = run(tmp_path, examples=50, seed_value=6)
    assert report["failure"] == ""
    assert report["messages"] >= 50 and report["refused"] > 0 and report["buttons"] > 0
    assert report["by_stranger"] and report["by_liaison"] and report["by_coordinator"]
