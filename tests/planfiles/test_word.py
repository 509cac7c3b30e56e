"""The Word 任务分工表: the seed typed into Word reads as the shipped plan, every inference is reported, bad files are refused."""

from __future__ import annotations

import dataclasses
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from docx import Document
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from wordtable import HEADINGS, write_seed_docx

from bot.core.errors import PlanFileError
from bot.core.plan import PlanSpec, Recurrence
from bot.core.units import UnitRegistry
from bot.planfiles.cells import parse_evidence_list
from bot.planfiles.compare import carry_forward, compare_plans
from bot.planfiles.limits import PlanFileLimits
from bot.planfiles.word import load_plan_docx, read_plan_docx


@pytest.fixture
def seed_docx(seed: PlanSpec, tmp_path: Path) -> Path:
    return write_seed_docx(seed, tmp_path / "附件2 任务分工表.docx")


def refusal(path: Path, units: UnitRegistry, **kwargs: object) -> str:
    with pytest.raises(PlanFileError) as info:
        read_plan_docx(path, units, **kwargs)  # type: ignore[arg-type]
    return info.value.message


# --- the seed in Word ------------------------------------------------------------------------------


def test_word_seed_reads_as_the_shipped_plan(seed: PlanSpec, seed_docx: Path, units: UnitRegistry) -> None:
    plan = load_plan_docx(seed_docx, units)
    assert (plan.title, plan.attachment, plan.year, plan.district) == (
        "2023年坪山区节水典范城市建设工作任务分工表", "附件2", 2023, "坪山区")
    assert plan.key == "plan-2023-附件2-任务分工表"
    # Numbers, leads, texts, deadlines, cooperating units, items, shared lists and recurrence, task by task;
    # the printed table has no 量化目标 column (targets come from the earlier plan, next test).
    assert len(plan.tasks) == 63
    assert plan.tasks == tuple(dataclasses.replace(t, targets=()) for t in seed.tasks)
    assert plan.notes == seed.notes  # 备注1 -> 30–32, 备注2 -> 15
    t = {x.no: x for x in plan.tasks}
    assert [(n, t[n].evidence_shared_with) for n in (10, 11, 37, 38, 40, 41, 44, 45, 47, 48)] == [
        (10, (11,)), (11, (10,)), (37, (38,)), (38, (37,)), (40, (41,)), (41, (40,)), (44, (45,)), (45, (44,)),
        (47, (48,)), (48, (47,))]
    assert [n for n in t if t[n].recurrence] == [14, 21, 60] and t[14].recurrence is Recurrence.MONTHLY
    assert t[31].cooperating == ("区科技创新局", "市规划和自然资源局坪山管理局")  # split across the page


def test_word_seed_with_the_stored_plan_beside_it_is_the_shipped_plan(seed: PlanSpec, seed_docx: Path,
                                                                      units: UnitRegistry) -> None:
    read = read_plan_docx(seed_docx, units)
    comparison = compare_plans(read.plan, seed)
    assert comparison.added == comparison.removed == comparison.changed == ()
    carried = carry_forward(read, comparison)
    assert carried.plan == seed  # targets taken from the stored plan, key of the same plan
    assert carried.plan.key == "pingshan-2023"
    taken = [(i.no, i.taken) for i in carried.inferred if i.field == "targets"]
    assert (37, "不少于4家") in taken and (19, "坪山9.5km") in taken
    assert len(taken) == sum(len(t.targets) for t in seed.tasks)


def test_word_seed_reports_what_it_inferred(seed: PlanSpec, seed_docx: Path, units: UnitRegistry) -> None:
    inferred = read_plan_docx(seed_docx, units).inferred
    merged = [i.no for i in inferred if i.kind == "merged_cell"]
    runs: list[int] = []
    for t, before in zip(seed.tasks[1:], seed.tasks, strict=False):
        if t.lead == before.lead:
            runs.append(t.no)
    assert merged == runs  # every task under a merged 牵头单位 cell but the first of its run
    lead_2 = next(i for i in inferred if i.no == 2)
    assert (lead_2.field, lead_2.written, lead_2.taken) == ("lead", "", "区水务局")
    assert lead_2.message == "第2项的牵头单位取自合并单元格：区水务局"
    continued = {(i.no, i.field) for i in inferred if i.kind == "continued_row"}
    assert continued == {(6, "text"), (6, "evidence"), (31, "text"), (31, "cooperating")}
    assert Counter(i.kind for i in inferred).keys() == {"merged_cell", "continued_row"}


# --- a table as offices type it --------------------------------------------------------------------


def fill(table: object, rows: list[list[str]]) -> None:
    """Type rows of text into a Word table, from its first row."""
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            table.cell(r, c).text = text  # type: ignore[attr-defined]


def office_table(path: Path, rows: list[list[str]], *, notes: tuple[str, ...] = (),
                 merge_down: tuple[tuple[int, int, int], ...] = (), above: tuple[str, ...] = ()) -> Path:
    """Write a small Word table: title (and the lines `above`), header 序号/工作任务/牵头单位/完成时间/配合单位/佐证材料,
    rows, notes."""
    doc = Document()
    doc.add_paragraph("附件 1：")
    doc.add_paragraph("2024年坪山区节水工作任务分工表")
    for line in above:
        doc.add_paragraph(line)
    table = doc.add_table(rows=1 + len(rows), cols=6)
    fill(table, [HEADINGS, *rows])
    for col, top, bottom in merge_down:
        table.cell(top, col).merge(table.cell(bottom, col))
    for note in notes:
        doc.add_paragraph(note)
    doc.save(str(path))
    return path


def test_office_table_reads_blank_leads_short_names_deadlines_and_notes(tmp_path: Path, units: UnitRegistry) -> None:
    path = office_table(tmp_path / "分工表.docx", [
        ["1", "召开节水工作会议，部署年度任务。", "水务局", "2024年6月底前", "住建局、区教育局", "(1)《会议纪要》(2)《签到表》"],
        ["2", "开展节水宣传活动。", "", "每季度", "/", "①《宣传方案》\n②《宣传照片》"],
        ["3", "推进节水型小区建设。", "同上", "见备注1", "区城市管理局", "1.《小区名单》；2.《验收意见》"],
        ["4", "推进再生水利用项目。", "区发展改革局", "9月", "/", "同上"],
    ], notes=("备注：", "1. 节水型小区：于2024年10月底前完成评定。"))
    read = read_plan_docx(path, units)
    plan = read.plan
    assert (plan.title, plan.attachment, plan.year) == ("2024年坪山区节水工作任务分工表", "附件1", 2024)
    t = {x.no: x for x in plan.tasks}
    assert [x.lead for x in plan.tasks] == ["区水务局", "区水务局", "区水务局", "区发展和改革局"]
    assert (t[1].deadline_raw, t[2].deadline_raw, t[3].deadline_raw, t[4].deadline_raw) == (
        "2024.6", "全年", "2024.10", "2024.9")
    assert t[2].recurrence is Recurrence.QUARTERLY
    assert t[1].cooperating == ("区住房和城乡建设局", "区教育局")
    assert t[3].cooperating == ("区城市管理和综合执法局",)
    assert [e.title for e in t[1].evidence] == ["《会议纪要》", "《签到表》"]
    assert [e.title for e in t[2].evidence] == ["《宣传方案》", "《宣传照片》"]
    assert [e.title for e in t[3].evidence] == ["《小区名单》", "《验收意见》"]
    assert t[4].evidence == t[3].evidence and t[4].evidence_shared_with == (3,)
    assert plan.notes[0].tasks == (3,)
    said = {(i.no, i.field): (i.kind, i.written, i.taken) for i in read.inferred}
    assert said[(1, "lead")] == ("alias", "水务局", "区水务局")
    assert said[(1, "cooperating")] == ("alias", "住建局", "区住房和城乡建设局")
    assert said[(1, "deadline")] == ("deadline_form", "2024年6月底前", "2024.6")
    assert said[(2, "lead")] == ("row_above", "", "区水务局")
    assert said[(2, "deadline")] == ("deadline_form", "每季度", "全年（每季度重复）")
    assert said[(3, "lead")] == ("row_above", "同上", "区水务局")
    assert said[(3, "deadline")] == ("note", "见备注1", "2024.10")
    assert said[(3, "cooperating")] == ("fuzzy", "区城市管理局", "区城市管理和综合执法局")
    assert said[(4, "lead")] == ("fuzzy", "区发展改革局", "区发展和改革局")
    assert said[(4, "deadline")] == ("deadline_form", "9月", "2024.9")
    messages = [i.message for i in read.inferred]
    assert "第3项的完成时间写作“见备注1”，从备注1读出：2024.10" in messages
    assert "第4项的牵头单位写作“区发展改革局”，单位名录中没有这个名称，按最相近的认作区发展和改革局" in messages


def test_merged_cells_and_numbering_as_word_renders_them(tmp_path: Path, units: UnitRegistry) -> None:
    """A title row merged across the table, a heading over two grid columns, Word's own list numbers, 备注 rows."""
    doc = Document()
    table = doc.add_table(rows=6, cols=7)
    table.cell(0, 0).merge(table.cell(0, 6)).text = "2024年坪山区节水工作任务分工表"
    for c, name in [(0, "序号"), (1, "工作任务"), (3, "牵头单位"), (4, "完成时间"), (5, "配合单位"), (6, "佐证材料")]:
        table.cell(1, c).text = name
    table.cell(1, 1).merge(table.cell(1, 2))  # 工作任务 spans two grid columns
    for r, text in ((2, "开展节水宣传。"), (3, "开展节水培训。")):
        table.cell(r, 1).merge(table.cell(r, 2)).text = text
        table.cell(r, 4).text = "2024.10"
        table.cell(r, 5).text = "/"
        number = table.cell(r, 0).paragraphs[0]
        number.text = ""
        number._p.get_or_add_pPr().append(_numbering())  # Word numbers the 序号 column itself
    table.cell(2, 3).text = "区水务局"
    table.cell(2, 3).merge(table.cell(3, 3))
    items = table.cell(2, 6)
    items.paragraphs[0].text = "《宣传方案》"
    items.add_paragraph("《培训签到表》")
    for p in items.paragraphs:
        p._p.get_or_add_pPr().append(_numbering())  # an automatic list: (1) (2) are not in the text
    items.merge(table.cell(3, 6))
    table.cell(4, 0).text = "备注"
    table.cell(4, 1).merge(table.cell(4, 6)).text = "1. 节水培训：面向各单位联络员。"
    doc.save(str(tmp_path / "t.docx"))
    plan = load_plan_docx(tmp_path / "t.docx", units)
    assert plan.title == "2024年坪山区节水工作任务分工表"
    assert [(t.no, t.text, t.lead) for t in plan.tasks] == [(1, "开展节水宣传。", "区水务局"), (2, "开展节水培训。", "区水务局")]
    assert [e.title for e in plan.tasks[0].evidence] == ["《宣传方案》", "《培训签到表》"]
    assert plan.tasks[1].evidence_shared_with == (1,)
    assert [(n.no, n.tasks) for n in plan.notes] == [(1, (2,))]


def _numbering() -> object:
    num = OxmlElement("w:numPr")
    for tag in ("w:ilvl", "w:numId"):
        el = OxmlElement(tag)
        el.set(qn("w:val"), "0" if tag == "w:ilvl" else "1")
        num.append(el)
    return num


@pytest.mark.parametrize(
    ("text", "titles"),
    [
        ("1.《2023年会议照片》；\n2.《签到表》", ["《2023年会议照片》", "《签到表》"]),
        ("1、a\n2、b", ["a", "b"]),
        ("①《a》②《b》", ["《a》", "《b》"]),
        ("(1)《a》(2)《b》", ["《a》", "《b》"]),  # run together in one paragraph
        ("1.《按2.0版标准》；2.《b》", ["《按2.0版标准》", "《b》"]),
    ],
)
def test_evidence_numbered_other_ways_splits_into_titles(text: str, titles: list[str]) -> None:
    assert parse_evidence_list(text) == titles


# --- refusals --------------------------------------------------------------------------------------


def test_unknown_unit_is_refused_naming_table_row_and_column(tmp_path: Path, units: UnitRegistry) -> None:
    path = office_table(tmp_path / "t.docx", [["1", "开展节水宣传。", "区水物局", "2024.10", "/", "/"]])
    msg = refusal(path, units)
    assert msg.startswith("任务分工表 t.docx 表格第2行「牵头单位」列：")
    assert "“区水物局”" in msg and "最接近的是：区水务局" in msg


def test_note_without_a_date_is_refused(tmp_path: Path, units: UnitRegistry) -> None:
    path = office_table(tmp_path / "t.docx", [["1", "开展节水宣传。", "区水务局", "见备注1", "/", "/"]],
                        notes=("备注：1. 节水宣传：按市里统一安排。",))
    assert "第2行「完成时间」列：写作“见备注1”，但备注1中没有找到完成时间" in refusal(path, units)


def test_missing_column_is_refused(tmp_path: Path, units: UnitRegistry) -> None:
    doc = Document()
    table = doc.add_table(rows=2, cols=3)
    fill(table, [["工作任务", "牵头单位", "完成时间"]])
    doc.save(str(tmp_path / "t.docx"))
    msg = refusal(tmp_path / "t.docx", units)
    assert "表格第1行" in msg and "表头缺少「配合单位」、「佐证材料」列" in msg


def test_old_word_format_and_other_files_are_refused(tmp_path: Path, units: UnitRegistry) -> None:
    (tmp_path / "t.doc").write_bytes(b"\xd0\xcf\x11\xe0")
    assert "另存为 .docx" in refusal(tmp_path / "t.doc", units)
    (tmp_path / "t.docx").write_text("not a zip")
    assert "无法读取（须为 Word .docx 文件）" in refusal(tmp_path / "t.docx", units)


def test_zip_bomb_is_refused_before_it_is_unpacked(seed_docx: Path, units: UnitRegistry) -> None:
    with zipfile.ZipFile(seed_docx, "a", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/media/padding.bin", b"\0" * (30 * 1024 * 1024))
    msg = refusal(seed_docx, units)
    assert "word/media/padding.bin" in msg and "解压后有 30 MB" in msg and "20 MB 的上限" in msg


def test_limits_on_rows_tasks_and_cells_are_named(seed_docx: Path, units: UnitRegistry) -> None:
    assert "超过了 50 行的上限" in refusal(seed_docx, units, limits=PlanFileLimits(rows=50))
    assert "任务超过了 40 项的上限" in refusal(seed_docx, units, limits=PlanFileLimits(tasks=40))
    assert "一个单元格超过了 100 字的上限" in refusal(seed_docx, units, limits=PlanFileLimits(cell_chars=100))


def test_table_broken_into_two_tables_reads_as_one(tmp_path: Path, units: UnitRegistry) -> None:
    """A letterhead table above, the plan split into two tables at a page (the second without its header,
    beginning with the rest of a task), 备注, and a signature table below."""
    doc = Document()
    doc.add_table(rows=1, cols=2).cell(0, 0).text = "深圳市坪山区水务局"
    doc.add_paragraph("附件2")
    doc.add_paragraph("2024年坪山区节水工作任务分工表")
    fill(doc.add_table(rows=3, cols=6), [
        HEADINGS,
        ["1", "开展节水宣传。", "区水务局", "2024.10", "/", "《宣传照片》"],
        ["2", "开展节水", "区教育局", "2024.9", "区水务局、区住房和城乡", "(1)《学校名单》；"],
    ])
    doc.add_paragraph("续表")
    fill(doc.add_table(rows=2, cols=6), [
        ["", "进校园活动。", "", "", "建设局", "(2)《活动照片》"],
        ["3", "推进节水型小区建设。", "", "2024.11", "/", "/"],
    ])
    doc.add_paragraph("备注：1. 节水型小区：按市标准评定。")
    doc.add_table(rows=1, cols=2).cell(0, 1).text = "2024年3月1日"
    doc.save(str(tmp_path / "t.docx"))
    read = read_plan_docx(tmp_path / "t.docx", units)
    plan = read.plan
    assert (plan.attachment, plan.title) == ("附件2", "2024年坪山区节水工作任务分工表")
    assert [(t.no, t.lead, t.text, t.cooperating) for t in plan.tasks] == [
        (1, "区水务局", "开展节水宣传。", ()),
        (2, "区教育局", "开展节水进校园活动。", ("区水务局", "区住房和城乡建设局")),  # a name broken at the page
        (3, "区教育局", "推进节水型小区建设。", ()),
    ]
    assert [e.title for e in plan.tasks[1].evidence] == ["《学校名单》", "《活动照片》"]
    assert [(n.no, n.text, n.tasks) for n in plan.notes] == [(1, "节水型小区：按市标准评定。", (3,))]
    said = [(i.no, i.field, i.kind) for i in read.inferred]
    assert said == [(2, "text", "continued_row"), (2, "cooperating", "continued_row"),
                    (2, "evidence", "continued_row"), (3, "lead", "row_above")]


# --- how often progress is reported (进展报送) ---------------------------------------------------------


@pytest.mark.parametrize("written, cadence", [("进展报送：每季度", Recurrence.QUARTERLY), ("（进展报送：不报送）", None),
                                              (None, Recurrence.MONTHLY)])
def test_word_table_says_the_cadence_above_it_as_excel_does(tmp_path: Path, units: UnitRegistry, written: str | None,
                                                            cadence: Recurrence | None) -> None:
    path = office_table(tmp_path / "分工表.docx", [["1", "开展节水宣传", "区水务局", "2024年12月", "", "（1）宣传照片"]],
                        above=(written,) if written else ())
    read = read_plan_docx(path, units)
    assert (read.plan.checkin, read.checkin_said) == (cadence, written is not None)
    assert read.plan.title == "2024年坪山区节水工作任务分工表"  # the line is not part of the title


def test_a_new_years_table_silent_on_the_cadence_keeps_the_earlier_plans(seed: PlanSpec, seed_docx: Path,
                                                                         units: UnitRegistry, tmp_path: Path) -> None:
    quarterly = dataclasses.replace(seed, checkin=Recurrence.QUARTERLY)
    read = read_plan_docx(seed_docx, units)  # says nothing about 进展报送
    carried = carry_forward(read, compare_plans(read.plan, quarterly))
    assert carried.plan.checkin is Recurrence.QUARTERLY
    [said] = [i for i in carried.inferred if i.field == "checkin"]
    assert said.message == "表中没有写进展报送，沿用计划 pingshan-2023：每季度"
    monthly = office_table(tmp_path / "每月.docx", [["1", "开展节水宣传", "区水务局", "2024年12月", "", "（1）宣传照片"]],
                           above=("进展报送：每月",))
    read = read_plan_docx(monthly, units)  # a table that says it keeps what it says
    earlier = dataclasses.replace(quarterly, tasks=(dataclasses.replace(read.plan.tasks[0], no=1),))
    assert carry_forward(read, compare_plans(read.plan, earlier)).plan.checkin is Recurrence.MONTHLY
