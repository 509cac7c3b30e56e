"""The `duban` command through its real entry point: JSON on stdout only, Chinese messages on stderr."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.__main__ import main


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DUBAN_STATE_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DUBAN_TODAY", "2023-10-20")
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
