"""Plan spreadsheets: the seed survives a write/read round trip, a table as staff keep it loads, bad tables are refused."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.packaging.custom import CustomPropertyList

from bot.core.errors import PlanFileError
from bot.core.plan import PlanSpec, Recurrence
from bot.core.units import UnitRegistry
from bot.planfiles.cells import parse_evidence_list
from bot.planfiles.excel import (
    format_evidence_list,
    load_plan_sheet,
    write_plan_sheet,
)
from bot.store.store import Store, open_store

NOW = dt.datetime(2023, 10, 20, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def seed_sheet(seed: PlanSpec, tmp_path: Path) -> Path:
    path = tmp_path / "任务分工表.xlsx"
    write_plan_sheet(seed, path)
    return path


@pytest.fixture
async def store(tmp_path: Path, seed: PlanSpec) -> AsyncIterator[Store]:
    s = await open_store(f"sqlite+aiosqlite:///{tmp_path}/t.db", tmp_path)
    await s.plans.import_plan(seed, "test", NOW)
    yield s
    await s.close()


def edit(path: Path, **cells: object) -> Path:
    """Change cells of the first sheet (A4="…") and save in place."""
    wb = load_workbook(path)
    ws = wb.worksheets[0]
    for ref, value in cells.items():
        ws[ref] = value
    wb.save(path)
    return path


def refusal(path: Path, units: UnitRegistry) -> str:
    with pytest.raises(PlanFileError) as info:
        load_plan_sheet(path, units)
    return info.value.message


# --- round trip ---------------------------------------------------------------------------------


def test_written_seed_reads_back_as_the_seed(seed: PlanSpec, seed_sheet: Path, units: UnitRegistry) -> None:
    again = load_plan_sheet(seed_sheet, units)
    assert again == seed  # tasks, leads, texts, deadlines, cooperating, evidence, sharing, recurrence, targets, notes
    assert again.key == "pingshan-2023" and again.district == "坪山区"


def test_written_sheet_looks_like_the_table(seed_sheet: Path) -> None:
    ws = load_workbook(seed_sheet).worksheets[0]
    assert ws["A1"].value == "附件2"
    assert ws["A2"].value == "2023年坪山区节水典范城市建设工作任务分工表"
    assert [ws.cell(row=3, column=c).value for c in range(1, 6)] == ["牵头单位", "工作任务", "完成时间", "配合单位", "佐证材料"]
    assert ws["B4"].value.startswith("1.强化节水管理")
    assert ws["C4"].value == "2023.11" and ws["C4"].number_format == "@"
    assert ws["E4"].value.startswith("(1)《关于召开深圳市坪山区2023年节水典范城市建设工作实施方案工作部署会的通知》；\n(2)")
    merged = {str(r) for r in ws.merged_cells.ranges}
    assert "A4:A35" in merged  # 区水务局 leads tasks 1–32
    assert "E13:E14" in merged  # tasks 10 and 11 share one list
    assert ws.column_dimensions["F"].hidden  # 周期/量化目标/备注: kept for the round trip, hidden from print
    notes = [ws.cell(row=r, column=1).value for r in range(67, 70)]
    assert notes[0] == "备注："
    assert notes[1].startswith("1. 水资源论证区域评估要求：")


async def test_stored_plan_writes_a_sheet_that_imports_as_the_same_plan(store: Store, seed: PlanSpec,
                                                                       units: UnitRegistry, tmp_path: Path) -> None:
    spec = await store.plans.spec()
    assert spec == seed
    path = tmp_path / "out.xlsx"
    write_plan_sheet(spec, path)
    again = load_plan_sheet(path, units)
    assert again == seed
    result = await store.plans.import_plan(again, "test", NOW)
    assert not result.created and result.tasks_unchanged == 63 and result.tasks_added == result.tasks_updated == 0


def test_table_without_the_extra_columns_derives_recurrence_and_note_links(seed: PlanSpec, seed_sheet: Path,
                                                                           units: UnitRegistry) -> None:
    wb = load_workbook(seed_sheet)
    wb.worksheets[0].delete_cols(6, 3)
    wb.custom_doc_props = CustomPropertyList()
    wb.save(seed_sheet)
    got = load_plan_sheet(seed_sheet, units)
    assert got.key == "plan-2023-任务分工表"
    assert got.district == "坪山区"
    # Targets live only in the 量化目标 column; everything else the printed table carries comes back.
    assert got.tasks == tuple(dataclasses.replace(t, targets=()) for t in seed.tasks)
    assert [t.no for t in got.tasks if t.recurrence] == [14, 21, 60]
    assert got.notes == seed.notes  # linked by topic: 水资源论证区域评估 -> 30–32, 取水点设置要求、智能化建设 -> 15


def test_key_argument_names_the_plan(seed_sheet: Path, units: UnitRegistry) -> None:
    assert load_plan_sheet(seed_sheet, units, key="pingshan-2024").key == "pingshan-2024"


# --- a table as staff write it ---------------------------------------------------------------------


def staff_table(path: Path) -> Path:
    """A small table the way districts type it: merged and empty lead cells, full-width numbering, numbers as dates."""
    wb = Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws["A1"] = "附件 2"
    ws["A2"] = "2024年坪山区节水典范城市建设工作任务分工表"
    ws.merge_cells("A2:E2")
    for c, name in enumerate(["牵头\n单位", "工作任务", "完成时间", "配合单位", "佐证材料"], start=1):
        ws.cell(row=3, column=c, value=name)
    ws["A4"] = "水务局"
    ws.merge_cells("A4:A6")
    ws["B4"] = "1. 召开节水工作会议，部署年度任务。"
    ws["C4"] = 2024.6  # typed into a General cell: a number
    ws["D4"] = "区住建局，教育局"
    ws["E4"] = "（1）《会议纪要》；（2）《签到表》。"
    ws["B5"] = "2．开展节水宣传，每季度不少于1次。"
    ws["C5"] = "全年"
    ws["D5"] = "/"
    ws["E5"] = "(1)《宣传方案》；\n(2)《宣传照片》"
    ws.merge_cells("E5:E6")
    ws["B6"] = "3、开展节水进校园活动。"
    ws["C6"] = "2024.10"
    ws["B7"] = "4.推进节水型小区建设。"
    ws["C7"] = dt.datetime(2024, 9, 1)  # Excel turned "2024/9" into a date
    ws["D7"] = "区水务局、区教育局"
    ws["E7"] = "/"
    ws["A8"] = "区教育局"
    ws["B8"] = "5.创建节水型学校。"
    ws["C8"] = "2024.12"
    ws["E8"] = "《节水型学校名单》"
    ws["A10"] = "备注："
    ws["A11"] = "1. 节水型小区：按《深圳市节水型小区评价标准》评定。"
    wb.save(path)
    return path


def test_staff_table_loads(tmp_path: Path, units: UnitRegistry) -> None:
    plan = load_plan_sheet(staff_table(tmp_path / "坪山 2024.xlsx"), units)
    assert (plan.key, plan.title, plan.attachment, plan.year) == (
        "plan-2024-坪山-2024", "2024年坪山区节水典范城市建设工作任务分工表", "附件2", 2024)
    t = {x.no: x for x in plan.tasks}
    assert list(t) == [1, 2, 3, 4, 5]
    assert [x.lead for x in plan.tasks] == ["区水务局"] * 4 + ["区教育局"]  # merged A4:A6, then A7 empty
    assert t[1].text == "召开节水工作会议，部署年度任务。"
    assert (t[1].deadline_raw, t[1].deadline) == ("2024.6", dt.date(2024, 6, 30))
    assert (t[2].deadline_raw, t[2].deadline) == ("全年", dt.date(2024, 12, 31))
    assert (t[3].deadline_raw, t[4].deadline_raw) == ("2024.10", "2024.9")
    assert t[1].cooperating == ("区住房和城乡建设局", "区教育局")
    assert t[2].cooperating == t[3].cooperating == ()
    assert [e.title for e in t[1].evidence] == ["《会议纪要》", "《签到表》"]
    assert [e.title for e in t[2].evidence] == [e.title for e in t[3].evidence] == ["《宣传方案》", "《宣传照片》"]
    assert (t[2].evidence_shared_with, t[3].evidence_shared_with) == ((3,), (2,))
    assert t[4].evidence == () and [e.title for e in t[5].evidence] == ["《节水型学校名单》"]
    assert t[2].recurrence is Recurrence.QUARTERLY and t[1].recurrence is None
    assert [(n.no, n.tasks) for n in plan.notes] == [(1, (4,))]
    assert plan.notes[0].text == "节水型小区：按《深圳市节水型小区评价标准》评定。"


def test_same_as_reference_shares_a_list_between_rows_apart(tmp_path: Path, units: UnitRegistry) -> None:
    path = edit(staff_table(tmp_path / "t.xlsx"), E8="同第1项")
    t = {x.no: x for x in load_plan_sheet(path, units).tasks}
    assert t[5].evidence == t[1].evidence and t[5].evidence_shared_with == (1,) and t[1].evidence_shared_with == (5,)


@pytest.mark.parametrize(
    ("text", "titles"),
    [
        ("(1)《a》；(2)《b》", ["《a》", "《b》"]),
        ("（1）《a》；\n（2）《b》。", ["《a》", "《b》"]),
        ("(1)《a(2)》；(2)《b》", ["《a(2)》", "《b》"]),  # a "(2)" inside a title is not a new item
        ("/", []),
        ("《only》", ["《only》"]),
    ],
)
def test_evidence_cells_split_into_titles(text: str, titles: list[str]) -> None:
    assert parse_evidence_list(text) == titles


def test_evidence_list_format_reads_back() -> None:
    titles = ["《关于召开会议的通知》", "坪山区水务局关于印发《方案》的通知", "《会议照片》"]
    assert parse_evidence_list(format_evidence_list(titles)) == titles


# --- refusals ------------------------------------------------------------------------------------


def test_missing_column_is_refused_naming_sheet_and_row(seed_sheet: Path, units: UnitRegistry) -> None:
    msg = refusal(edit(seed_sheet, D3="说明"), units)
    assert "工作表「任务分工表」" in msg and "第3行" in msg and "缺少「配合单位」列" in msg


def test_unknown_unit_is_refused_with_candidates(seed_sheet: Path, units: UnitRegistry) -> None:
    msg = refusal(edit(seed_sheet, A4="区水物局"), units)
    assert "工作表「任务分工表」第4行「牵头单位」列（A4）" in msg
    assert "“区水物局”" in msg and "最接近的是：区水务局" in msg


def test_unknown_cooperating_unit_is_refused(seed_sheet: Path, units: UnitRegistry) -> None:
    msg = refusal(edit(seed_sheet, D5="区水务局、火星局"), units)
    assert "第5行「配合单位」列（D5）" in msg and "“火星局”" in msg


def test_deadline_that_is_not_a_date_is_refused(seed_sheet: Path, units: UnitRegistry) -> None:
    msg = refusal(edit(seed_sheet, C5="2023年底"), units)
    assert "第5行「完成时间」列（C5）" in msg and "“2023年底”" in msg


def test_duplicate_task_number_is_refused(seed_sheet: Path, units: UnitRegistry) -> None:
    msg = refusal(edit(seed_sheet, B6="1.重复的任务"), units)
    assert "第6行「工作任务」列（B6）" in msg and "序号1重复（第4行已是第1项任务）" in msg


def test_broken_evidence_numbering_is_refused(seed_sheet: Path, units: UnitRegistry) -> None:
    msg = refusal(edit(seed_sheet, E4="(1)《a》；(3)《b》"), units)
    assert "第4行「佐证材料」列（E4）" in msg and "(1)(3)" in msg


def test_sheet_without_header_is_refused(tmp_path: Path, units: UnitRegistry) -> None:
    wb = Workbook()
    wb.active["A1"] = "随便写点什么"
    wb.save(tmp_path / "x.xlsx")
    assert "找不到表头行" in refusal(tmp_path / "x.xlsx", units)


def test_not_a_spreadsheet_is_refused(tmp_path: Path, units: UnitRegistry) -> None:
    (tmp_path / "x.xlsx").write_text("not a zip")
    assert "无法读取" in refusal(tmp_path / "x.xlsx", units)


async def test_refused_import_writes_nothing(tmp_path: Path, seed: PlanSpec, units: UnitRegistry) -> None:
    from bot.app import App
    from bot.config import Settings

    app = await App.create(Settings(state_dir=tmp_path / "state", database_url=f"sqlite+aiosqlite:///{tmp_path}/a.db"))
    try:
        bad = tmp_path / "bad.xlsx"
        write_plan_sheet(dataclasses.replace(seed, key="other"), bad)
        edit(bad, C40="明年")
        before = await app.store.plans.list_plans()
        with pytest.raises(PlanFileError, match="第40行「完成时间」列"):
            await app.import_plan(bad, actor="test")
        assert await app.store.plans.list_plans() == before
    finally:
        await app.close()
