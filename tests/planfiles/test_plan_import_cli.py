"""`duban plan import` of a Word table: --dry-run previews in Chinese, --json for scripts, and neither writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import Workbook
from test_cli import state  # noqa: F401  (autouse: the state directory and pinned day of the CLI tests)
from wordtable import next_year, write_seed_docx

from bot.cli.main import main
from bot.core.plan import PlanSpec


@pytest.fixture
def next_docx(seed: PlanSpec, tmp_path: Path) -> Path:
    return write_seed_docx(next_year(seed), tmp_path / "2024年分工表.docx", written_units={"区教育局": "教育局"})


def plans(capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["plan", "list"]) == 0
    return capsys.readouterr().out


def test_dry_run_json_lists_inferences_and_the_changes_against_the_stored_plan(
        next_docx: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = plans(capsys)
    assert main(["plan", "import", str(next_docx), "--dry-run", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tasks"] == 63 and out["compared_with"] == "pingshan-2023"
    assert [a["no"] for a in out["added"]] == [1, 5]
    assert [r["no"] for r in out["removed"]] == [25, 63]
    assert [(c["no"], c["was"], c["fields"]) for c in out["changed"]] == [(3, 2, ["text"]), (41, 40, ["text"])]
    kinds = {(i["no"], i["field"], i["kind"]) for i in out["inferred"]}
    assert {(41, "lead", "alias"), (42, "lead", "merged_cell"), (6, "evidence", "continued_row")} <= kinds
    assert (38, "targets", "earlier_plan") in kinds  # 不少于4家 of the 2023 task 37, still in the text
    alias = next(i for i in out["inferred"] if i["kind"] == "alias")
    assert alias == {"no": 24, "field": "cooperating", "written": "教育局", "taken": "区教育局", "kind": "alias",
                     "message": "第24项的配合单位写作“教育局”，按简称认作区教育局"}
    assert plans(capsys) == before  # nothing written


def test_dry_run_prints_the_preview_in_chinese(next_docx: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "import", str(next_docx), "--dry-run"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "《2024年坪山区节水典范城市建设工作任务分工表》（附件2）" in out
    assert "共63项任务" in out and "各牵头单位：区水务局 33项；" in out and "区教育局 3项" in out
    assert "完成时间：2024.9 6项；2024.10 8项；" in out
    assert "第42–43项的牵头单位取自合并单元格：区教育局" in out
    assert "第41–43项的牵头单位写作“教育局”，按简称认作区教育局" in out
    assert "与库中的计划 pingshan-2023（2023年坪山区节水典范城市建设工作任务分工表）相比：新增2项，删除2项，修改2项，仅序号变化59项。" in out
    assert "  删除：原第25项（区水务局）收集节水载体优秀案例" in out
    assert "  修改：第41项（原第40项）的工作任务有变化" in out
    assert "没有写入任何内容" in captured.err


def test_importing_the_word_seed_updates_the_stored_plan_and_next_year_adds_one(
        seed: PlanSpec, next_docx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed_docx = write_seed_docx(seed, tmp_path / "附件2.docx")
    assert main(["plan", "import", str(seed_docx)]) == 0
    err = capsys.readouterr().err
    assert "已更新计划 pingshan-2023：新增0项，更新0项，未变63项" in err  # same plan: no second copy
    assert "第2–32项的牵头单位取自合并单元格：区水务局" in err  # what was inferred is said on import too
    assert main(["plan", "import", str(next_docx)]) == 0
    assert "已新建计划 plan-2024-2024年分工表：新增63项" in capsys.readouterr().err
    assert main(["--plan", "plan-2024-2024年分工表", "task", "38", "--json"]) == 0
    task = json.loads(capsys.readouterr().out)
    assert task["deadline_raw"] == "2024.9" and [t["phrase"] for t in task["targets"]] == [
        "不少于4家", "至少1家", "覆盖率达到13%"]


def test_excel_table_reports_what_it_inferred_the_same_way(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wb = Workbook()
    ws = wb.active
    ws["A1"] = "2024年坪山区节水工作任务分工表"
    for c, name in enumerate(["牵头单位", "工作任务", "完成时间", "配合单位", "佐证材料"], start=1):
        ws.cell(row=2, column=c, value=name)
    rows = [
        ("水务局", "1.召开节水工作会议。", "2024.6", "区住建局", "《会议纪要》"),
        (None, "2.开展节水宣传。", "每月", "/", "《宣传照片》"),
        (None, "3.开展节水培训。", "2024.10", "/", "《签到表》"),
        ("区发展改革局", "推进再生水利用。", "2024年9月", "/", "《项目清单》"),
    ]
    for r, row in enumerate(rows, start=3):
        for c, value in enumerate(row, start=1):
            ws.cell(row=r, column=c, value=value)
    ws.merge_cells("A3:A4")  # 水务局 over tasks 1–2; task 3's cell left blank
    wb.save(tmp_path / "分工表.xlsx")
    assert main(["plan", "import", str(tmp_path / "分工表.xlsx"), "--dry-run", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    said = [(i["no"], i["field"], i["kind"], i["written"], i["taken"]) for i in out["inferred"]]
    assert said == [
        (1, "lead", "alias", "水务局", "区水务局"),
        (1, "cooperating", "alias", "区住建局", "区住房和城乡建设局"),
        (2, "lead", "alias", "水务局", "区水务局"),
        (2, "lead", "merged_cell", "", "区水务局"),
        (2, "deadline", "deadline_form", "每月", "全年（每月重复）"),
        (3, "lead", "alias", "水务局", "区水务局"),
        (3, "lead", "row_above", "", "区水务局"),
        (4, "no", "sequence", "", "4"),
        (4, "lead", "fuzzy", "区发展改革局", "区发展和改革局"),
        (4, "deadline", "deadline_form", "2024年9月", "2024.9"),
    ]
    assert out["compared_with"] is None  # no earlier 2024-or-before plan of 坪山区 shares a task with it
