"""The `duban` command through its real entry point: JSON on stdout only, Chinese messages on stderr."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.main import main


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DUBAN_STATE_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DUBAN_TODAY", "2023-10-20")
    monkeypatch.setenv("DUBAN_TIME", "10:00")
    monkeypatch.delenv("DUBAN_DATABASE_URL", raising=False)
    monkeypatch.delenv("DUBAN_COORDINATORS", raising=False)
    return tmp_path


def test_tasks_json_for_an_abbreviated_unit(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks", "--unit", "住建局", "--json"]) == 0
    captured = capsys.readouterr()
    tasks = json.loads(captured.out)
    assert [t["no"] for t in tasks] == [7, 44, 45, 46]  # leads 44-46, cooperates on 7
    t44 = tasks[1]
    assert t44["lead"] == "区住房和城乡建设局" and t44["deadline"] == "2023-09-30"
    assert t44["evidence_shared_with"] == [45] and len(t44["evidence"]) == 4


def test_task_json_has_notes_and_cooperating(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["task", "31", "--json"]) == 0
    t = json.loads(capsys.readouterr().out)
    assert t["cooperating"] == ["区科技创新局", "市规划和自然资源局坪山管理局"]
    assert t["evidence"] == [] and t["notes"][0].startswith("水资源论证区域评估要求")


def test_unknown_unit_lists_candidates_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks", "--unit", "水利局", "--json"]) != 0
    captured = capsys.readouterr()
    assert captured.out == "" and "区水务局" in captured.err


def test_due_before_filters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks", "--due-before", "2023-09-30", "--json"]) == 0
    assert sorted(t["no"] for t in json.loads(capsys.readouterr().out)) == [10, 37, 40, 44, 47, 57]


def test_invite_prints_code_last_and_console_binds(state: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["invite", "区教育局"]) == 0
    code = capsys.readouterr().out.strip().splitlines()[-1]
    assert len(code) == 8
    evidence = state / "报告.pdf"
    evidence.write_bytes(b"%PDF school")
    script = f"/bind {code}\n我单位有哪些任务\n/upload {evidence} 40-1\n任务40\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(script))
    assert main(["console", "--user", "li"]) == 0
    out = capsys.readouterr().out
    assert "绑定成功" in out and "牵头任务 3 项" in out and "归入任务40 材料1" in out
    assert "✅ 1." in out


def test_bad_plan_file_is_refused_with_file_and_field(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = state / "bad.yaml"
    bad.write_text("key: x\ntitle: t\nattachment: a\nyear: 2024\ntasks:\n  - no: 1\n    lead: 区水务局\n"
                   "    text: 做事\n    deadline: '2024.13'\n    cooperating: []\n    evidence: []\n", encoding="utf-8")
    assert main(["plan", "import", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "第1项任务" in err and "完成时间" in err
    assert main(["plan", "list"]) == 0
    assert "x " not in capsys.readouterr().out


def test_python_dash_m_works(state: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "bot", "units", "--json"], capture_output=True, text=True,
                          check=True, cwd=state)
    names = {u["name"] for u in json.loads(done.stdout)}
    assert {"区教育局", "区财政局", "各街道办事处"} <= names


def console(user: str, lines: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    """Run `duban console --user USER` over scripted lines and return what it printed."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    assert main(["console", "--user", user]) == 0
    return capsys.readouterr().out


def preview_of(no: int, capsys: pytest.CaptureFixture[str]) -> list[tuple[str, str, str]]:
    """Return (send day, stage, deadline) of one task's reminders over 2023-10-20..2023-11-30."""
    assert main(["remind", "preview", "--from", "2023-10-20", "--to", "2023-11-30", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    return [(r["at"][:10], r["stage"], r["due"]) for r in rows if r["task"] == no and r["recipient"] == "console:li"]


def test_remind_preview_before_and_after_an_approved_extension(monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DUBAN_COORDINATORS", "console:admin")
    assert main(["invite", "区教育局"]) == 0
    code = capsys.readouterr().out.strip().splitlines()[-1]
    asked = console("li", [f"/bind {code}", "/delay 40 2023-11-15 学校暑期停课，需顺延"], monkeypatch, capsys)
    assert "已提交任务40的延期申请" in asked
    before = preview_of(40, capsys)
    assert before and {due for _, _, due in before} == {"2023-09-30"}  # weekly 逾期 nudges for 9月30日
    assert "已批准任务40延期" in console("admin", ["/delay approve 40"], monkeypatch, capsys)
    after = preview_of(40, capsys)
    assert after == [("2023-11-01", "d14", "2023-11-15"), ("2023-11-08", "d7", "2023-11-15"),
                     ("2023-11-10", "d3", "2023-11-15"), ("2023-11-14", "d1", "2023-11-15"),
                     ("2023-11-15", "d0", "2023-11-15"), ("2023-11-16", "red", "2023-11-15"),  # 红灯 once
                     ("2023-11-22", "overdue-1", "2023-11-15"),
                     ("2023-11-29", "overdue-2", "2023-11-15")]
    assert main(["task", "40", "--json"]) == 0
    task = json.loads(capsys.readouterr().out)
    assert (task["deadline"], task["deadline_original"], task["deadline_raw"]) == ("2023-11-15", "2023-09-30", "2023.9")


def test_console_upload_takes_paths_with_spaces(state: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["invite", "区教育局"]) == 0
    code = capsys.readouterr().out.strip().splitlines()[-1]
    folder = state / "我的 材料"
    folder.mkdir()
    files = [folder / f"学校 创建 材料{n}.pdf" for n in (1, 2, 3, 4)]
    for n, f in enumerate(files):
        f.write_bytes(f"%PDF {n}".encode())
    escaped = str(files[1]).replace(" ", "\\ ")
    out = console("li", [f"/bind {code}", f"/upload '{files[0]}' 40-1", f"/upload {escaped} 40-2",
                         f'/upload "{files[2]}" 40-3', f"/upload {files[3]} 40-4"], monkeypatch, capsys)
    for n in (1, 2, 3, 4):
        assert f"已收到「学校 创建 材料{n}.pdf」，归入任务40 材料{n}" in out
    assert "文件不存在" not in out



def test_removing_a_coordinator_named_in_settings_is_refused_until_the_setting_drops_them(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DUBAN_COORDINATORS", "console:admin,wecom:zhangsan")
    assert "区教育局的联络员邀请码：" in console("admin", ["/invite 教育局"], monkeypatch, capsys)
    assert main(["coordinator", "remove", "console:admin"]) == 2
    err = capsys.readouterr().err
    assert "没有取消" in err and "DUBAN_COORDINATORS" in err and "已取消" not in err
    assert "区教育局的联络员邀请码：" in console("admin", ["/invite 教育局"], monkeypatch, capsys)  # still one

    monkeypatch.setenv("DUBAN_COORDINATORS", "wecom:zhangsan")  # the operator takes admin off the list
    assert main(["coordinator", "remove", "console:admin"]) == 0
    assert "已取消节水办统筹人员：console:admin" in capsys.readouterr().err
    assert "邀请码：" not in console("admin", ["/invite 教育局"], monkeypatch, capsys)
    assert main(["coordinator", "list"]) == 0
    assert "console:admin" not in capsys.readouterr().out


def test_a_plan_is_archived_and_made_active_again(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "archive", "pingshan-2023"]) == 0
    assert "已归档计划 pingshan-2023" in capsys.readouterr().err
    assert main(["plan", "list", "--json"]) == 0
    assert [(p["key"], p["active"]) for p in json.loads(capsys.readouterr().out)] == [("pingshan-2023", False)]
    assert main(["plan", "activate", "pingshan-2023"]) == 0
    capsys.readouterr()
    assert main(["plan", "list", "--json"]) == 0
    assert [(p["key"], p["active"]) for p in json.loads(capsys.readouterr().out)] == [("pingshan-2023", True)]
    assert main(["plan", "archive", "no-such-plan"]) == 2
    assert "没有找到计划「no-such-plan」" in capsys.readouterr().err
