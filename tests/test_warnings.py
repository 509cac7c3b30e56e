"""The traffic light (预警 红/黄/绿): one rule, seen in the task list, the task detail, the digest and the CLI."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from conftest import Chat

from bot.app import App
from bot.cli.main import main
from bot.core.clock import Clock

DAY = dt.timedelta(days=1)


def light(detail: str) -> str:
    """Return the 预警 line of a task's detail."""
    return next(line for line in detail.splitlines() if line.startswith("预警："))


async def submit(chat: Chat, no: int) -> None:
    """Report a task done with evidence missing: /done, then the button that submits anyway."""
    [ask] = await chat.say("li", f"/done {no}")
    await chat.say("li", callback=ask.choices[0].data)


async def test_due_within_14_days_with_evidence_missing_is_yellow_from_day_14(chat: Chat, app: App,
                                                                              clock: Clock) -> None:
    await chat.bind("li", "教育局")
    clock.advance(-4 * DAY)  # 16 October: task 41 (2023.10, no file yet) is due in 15 days
    assert light(await chat.text("li", "任务41")) == "预警：🟢绿"
    clock.advance(DAY)  # 17 October: 14 days
    assert light(await chat.text("li", "任务41")) == "预警：🟡黄（14天内到期，材料未齐）"
    listed = await chat.text("li", "我单位有哪些任务")
    assert "🟡黄【任务41】" in listed and "🔴红【任务40】" in listed  # 40 was due 30 September


async def test_a_return_is_yellow_then_red_after_5_workdays_until_resubmitted(chat: Chat, app: App,
                                                                              clock: Clock) -> None:
    await chat.bind("li", "教育局")
    clock.advance(-10 * DAY)  # 10 October: task 42 (2023.11) is far off
    await submit(chat, 42)
    await chat.text("admin", "/return 42 照片不清晰")  # Tuesday 10 October
    assert light(await chat.text("li", "任务42")) == "预警：🟡黄（已退回，待重新提交）"
    await chat.text("li", "任务42进展：正在重新拍照")  # work after the return moves the state, not the light
    clock.advance(7 * DAY)  # Tuesday 17 October: the 5th workday after the return
    assert light(await chat.text("li", "任务42")) == "预警：🟡黄（已退回，待重新提交）"
    clock.advance(DAY)  # the 6th
    assert light(await chat.text("li", "任务42")) == "预警：🔴红（退回后5个工作日内未重新提交）"
    await submit(chat, 42)
    detail = await chat.text("li", "任务42")
    assert "待审核" in detail and "预警：" not in detail  # the office owes the next step


async def test_an_approved_extension_moves_red_back(chat: Chat, app: App) -> None:
    await chat.bind("li", "教育局")
    assert light(await chat.text("li", "任务40")) == "预警：🔴红（已逾期）"
    await chat.text("li", "/delay 40 2023-11-15 学校暑期停课")
    await chat.text("admin", "/delay approve 40")
    assert light(await chat.text("li", "任务40")) == "预警：🟢绿"  # due in 26 days
    digest = await chat.text("admin", "/digest")
    assert "逾期5\n预警：🔴红5 · " in digest  # 10, 37, 44, 47, 57 overdue; 40 no longer


async def test_digest_counts_red_and_yellow_per_unit(chat: Chat) -> None:
    digest = await chat.text("admin", "/digest")
    [edu] = [line for line in digest.splitlines() if "区教育局：" in line]
    assert edu.endswith("逾期1项 · 红1 黄1")  # 40 overdue; 41 due in 11 days without evidence


@pytest.mark.parametrize("no, level", [(40, "red"), (41, "yellow"), (2, "green")])
def test_task_json_says_the_warning(no: int, level: str, tmp_path: object, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(str(tmp_path))
    monkeypatch.setenv("DUBAN_STATE_DIR", f"{tmp_path}/var")
    monkeypatch.setenv("DUBAN_TODAY", "2023-10-20")
    monkeypatch.delenv("DUBAN_DATABASE_URL", raising=False)
    assert main(["task", str(no), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["warning"] == level


def test_thresholds_come_from_the_settings(tmp_path: object, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(str(tmp_path))
    monkeypatch.setenv("DUBAN_STATE_DIR", f"{tmp_path}/var")
    monkeypatch.setenv("DUBAN_TODAY", "2023-10-20")
    monkeypatch.setenv("DUBAN_WARNING_DUE_DAYS", "7")
    monkeypatch.delenv("DUBAN_DATABASE_URL", raising=False)
    assert main(["task", "41", "--json"]) == 0  # due in 11 days: 黄 at 14, 绿 at 7
    assert json.loads(capsys.readouterr().out)["warning"] == "green"


async def test_a_coordinator_asks_for_the_red_and_the_yellow_tasks(chat: Chat) -> None:
    red = await chat.text("admin", "红灯任务")
    assert "全计划的任务 · 红灯：共6项" in red and "【任务40】" in red and "【任务41】" not in red
    yellow = await chat.text("admin", "黄灯的有哪些")
    assert "【任务41】" in yellow and "【任务40】" not in yellow
    await chat.bind("li", "教育局")
    assert "【任务40】" in await chat.text("li", "我们的红灯任务")  # a liaison: the unit's own
