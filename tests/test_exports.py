"""The 台账 and the inspection bundle: read back the xlsx cells and the zip tree, hashes and index."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import io
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from bot.config import Settings
from bot.core.clock import Clock
from bot.core.errors import UserError
from bot.core.messages import ChatRef, Message, Push
from bot.core.units import UnitRegistry
from bot.core.views import PersonView, PlanView, TaskStatus
from bot.exports.bundle import export_bundle
from bot.exports.ledger import HEADERS, export_ledger
from bot.exports.names import safe_name, unique_name
from bot.handlers import export as export_handler
from bot.handlers.context import Context, Services
from bot.planfiles.yamlfile import default_plan_path, default_units_path, load_plan_file, load_units_file
from bot.readmodel import ReadModel
from bot.store.store import Store, open_store

NOW = dt.datetime(2023, 10, 20, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shenzhen
TODAY = dt.date(2023, 11, 15)
RED = "00FFC7CE"


@pytest.fixture(scope="module")
def units() -> UnitRegistry:
    return load_units_file(default_units_path())


@pytest.fixture
async def store(tmp_path: Path, units: UnitRegistry) -> AsyncIterator[Store]:
    s = await open_store(f"sqlite+aiosqlite:///{tmp_path}/t.db", tmp_path)
    await s.plans.import_plan(load_plan_file(default_plan_path(), units), "test", NOW)
    yield s
    await s.close()


async def plan_of(store: Store) -> PlanView:
    return await store.plans.plan(None)


async def add_file(store: Store, tmp_path: Path, task_no: int, item_no: int, name: str, data: bytes,
                   unit: str = "区水务局") -> str:
    """Store bytes as an evidence file for an item; return its SHA-256."""
    src = tmp_path / "upload.bin"
    src.write_bytes(data)
    sha, size = store.files.put(src)
    plan = await plan_of(store)
    await store.evidence.add(plan.id, task_no, item_no, sha256=sha, size=size, file_name=name,
                             mime_type="application/octet-stream", unit=unit, by="console:x", channel="console", now=NOW)
    return sha


def row_of(ws: Any, no: int) -> int:
    """Return the sheet row of task `no` (column A holds the number)."""
    for r in range(2, ws.max_row + 1):
        if ws.cell(row=r, column=1).value == no:
            return r
    raise AssertionError(f"task {no} not in sheet")


# --- 台账 -----------------------------------------------------------------------------------------


def column(header: str) -> int:
    """Return the 台账 column (1-based) of a header."""
    return HEADERS.index(header) + 1


async def test_ledger_lists_every_task_under_chinese_headers(store: Store, tmp_path: Path) -> None:
    await add_file(store, tmp_path, 1, 1, "通知.pdf", b"%PDF-1 notice")
    out = await export_ledger(store, None, tmp_path / "台账.xlsx", TODAY)
    wb = load_workbook(out)
    ws = wb["台账"]
    assert [c.value for c in ws[1]] == list(HEADERS)
    assert ws.freeze_panes == "A2"
    assert ws.max_row == 64
    assert ws.column_dimensions["C"].width == 60 and ws["C2"].alignment.wrap_text
    r = row_of(ws, 1)
    values = [c.value for c in ws[r]]
    assert values[:7] == [1, "区水务局", "强化节水管理，充分发挥区级领导统筹协调平台引领作用，定期召开节水相关会议，审议区级节水工作任务分工。",
                          "2023.11", "节水工作专项领导小组全体成员", "进行中", "绿"]  # due in 15 days, reported in October
    assert values[column("材料(已收/应收)") - 1] == "1/6"
    assert values[column("最近更新") - 1] == dt.datetime(2023, 10, 20, 10, 0)  # last activity, in Shenzhen time
    assert values[column("逾期天数") - 1] is None  # 2023.11 is not yet past on 15 November
    assert ws.cell(row=row_of(ws, 2), column=5).value == "/"
    assert ws.cell(row=row_of(ws, 30), column=column("材料(已收/应收)")).value == "无需"


async def test_overdue_rows_are_highlighted_and_counted(store: Store, tmp_path: Path) -> None:
    plan = await plan_of(store)
    overdue = [t for t in await store.plans.tasks(plan.id) if t.deadline < TODAY]
    assert overdue, "the seed has tasks due in September and October"
    done = overdue[1]
    await store.plans.set_status(plan.id, done.no, TaskStatus.APPROVED, actor="t", channel="console", now=NOW)
    ws = load_workbook(await export_ledger(store, None, tmp_path / "l.xlsx", TODAY))["台账"]
    late = overdue[0]
    r = row_of(ws, late.no)
    assert ws.cell(row=r, column=column("逾期天数")).value == (TODAY - late.deadline).days
    assert {c.fill.fgColor.rgb for c in ws[r]} == {RED}
    assert ws.cell(row=r, column=column("预警")).value == "红"  # the word, in a red cell
    approved = row_of(ws, done.no)
    assert ws.cell(row=approved, column=6).value == "已完成"
    assert ws.cell(row=approved, column=column("逾期天数")).value is None
    assert ws.cell(row=approved, column=1).fill.fgColor.rgb != RED
    assert ws.cell(row=approved, column=column("预警")).value is None  # a completed task has no warning
    year_long = row_of(ws, 2)  # 全年
    assert ws.cell(row=year_long, column=column("逾期天数")).value is None
    assert ws.cell(row=year_long, column=1).fill.fgColor.rgb != RED
    light = ws.cell(row=year_long, column=column("预警"))  # nothing reported in October, asked on 25 October
    assert light.value == "黄" and light.fill.fgColor.rgb == "00FFEB9C"


async def test_ledger_has_a_sheet_per_lead_unit_and_a_summary(store: Store, tmp_path: Path) -> None:
    plan = await plan_of(store)
    tasks = await store.plans.tasks(plan.id)
    await store.plans.set_status(plan.id, 40, TaskStatus.SUBMITTED, actor="t", channel="console", now=NOW)
    await add_file(store, tmp_path, 40, 1, "照片.jpg", b"\xff\xd8 jpeg", unit="区教育局")
    wb = load_workbook(await export_ledger(store, None, tmp_path / "l.xlsx", TODAY))
    leads = list(dict.fromkeys(t.lead for t in tasks))
    assert wb.sheetnames == ["台账", "汇总", *leads]
    edu = wb["区教育局"]
    assert [edu.cell(row=r, column=1).value for r in range(2, edu.max_row + 1)] == [40, 41, 42]
    assert edu.freeze_panes == "A2"
    summary = {row[0].value: [c.value for c in row] for row in wb["汇总"].iter_rows(min_row=2)}
    assert [c.value for c in wb["汇总"][1]] == ["牵头单位", "任务数", "已完成", "待审核", "进行中", "未开始", "已退回", "逾期",
                                              "材料已收", "材料应收"]
    edu_items = {i.id for t in tasks if t.lead == "区教育局" for i in t.items}  # 40/41 share one list
    assert summary["区教育局"] == ["区教育局", 3, 0, 1, 0, 2, 0,
                                 sum(1 for t in tasks if t.lead == "区教育局" and t.deadline < TODAY and t.no != 40),
                                 1, len(edu_items)]
    assert summary["区水务局"][1] == 32
    assert summary["合计"][1] == 63


# --- the bundle ----------------------------------------------------------------------------------


def extract(path: Path, dest: Path) -> dict[str, bytes]:
    """Unzip like a user would, refusing anything that lands outside `dest`; return relative path -> bytes."""
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        for info in zf.infolist():
            target = (dest / info.filename).resolve()
            assert target.is_relative_to(dest.resolve()), info.filename
        zf.extractall(dest)
    return {str(p.relative_to(dest)): p.read_bytes() for p in dest.rglob("*") if p.is_file()}


def index_rows(zip_path: Path) -> list[dict[str, object]]:
    with zipfile.ZipFile(zip_path) as zf:
        ws = load_workbook(io.BytesIO(zf.read("index.xlsx")))["材料清单"]
    head = [c.value for c in ws[1]]
    return [dict(zip(head, [c.value for c in row], strict=True)) | {"_fill": row[0].fill.fgColor.rgb}
            for row in ws.iter_rows(min_row=2)]


async def test_bundle_tree_hashes_and_index(store: Store, tmp_path: Path) -> None:
    a, b = b"%PDF first version" * 100, b"%PDF second version" * 100
    sha_a = await add_file(store, tmp_path, 1, 1, "通知.pdf", a)
    await add_file(store, tmp_path, 1, 1, "通知.pdf", b)  # same name, other bytes: kept apart
    await add_file(store, tmp_path, 10, 2, "载体名单.xlsx", b"PK shared")  # 10 and 11 share a list
    seen: list[tuple[int, int]] = []
    result = await export_bundle(store, None, tmp_path / "包.zip", progress=lambda d, t: seen.append((d, t)),
                                 generated_at=NOW)
    assert (result.tasks, result.files, result.lost) == (63, 3, ())
    assert result.items_missing == result.items - 2
    assert seen[-1] == (result.content_bytes, result.content_bytes) == (len(a) + len(b) + 9,) * 2

    files = extract(result.path, tmp_path / "x")
    item1 = "01-强化节水管理/01-关于召开深圳市坪山区2023年节水典范城市建设工作实施方案工作部署会的通知"
    assert files[f"{item1}/通知.pdf"] == a
    assert files[f"{item1}/通知 (2).pdf"] == b
    assert files["10-在水量排名前10的企业中选取符合创建条…/02-节水型企业创建材料（1家）/载体名单.xlsx"] == b"PK shared"
    assert [n for n in files if n.startswith("11-")] == ["11-按照市水务局印发载体创建新标准/共用材料说明.txt"]
    note = files["11-按照市水务局印发载体创建新标准/共用材料说明.txt"].decode("utf-8-sig")
    assert "第10项任务" in note and "10-在水量排名前10的企业中选取符合创建条…/" in note
    assert sum(1 for n in files if n.endswith("载体名单.xlsx")) == 1
    assert "30-督促统筹（主管）部门推动20大先进制造…/无需佐证材料.txt" in files
    readme = files["README.txt"].decode("utf-8-sig")
    assert readme.startswith("2023年坪山区节水典范城市建设工作任务分工表 附件2") and "生成时间：2023-10-20 10:00" in readme
    assert (tmp_path / "x" / item1).is_dir() and (tmp_path / "x" / "02-对事权管理范围内的重点单位用户严格下达…").is_dir()

    rows = index_rows(result.path)
    by_path = {r["包内位置"]: r for r in rows}
    first = by_path[f"{item1}/通知.pdf"]
    assert (first["SHA-256"], first["大小(字节)"], first["原文件名"], first["状态"]) == (sha_a, len(a), "通知.pdf", "已收")
    assert first["上传人"] == "console:x" and first["上传单位"] == "区水务局"
    for r in rows:
        if r["状态"] == "已收":
            assert hashlib.sha256(files[str(r["包内位置"])]).hexdigest() == r["SHA-256"]
    missing = [r for r in rows if r["状态"] == "缺"]
    assert len(missing) == result.items_missing and {r["_fill"] for r in missing} == {RED}
    assert all(r["_fill"] != RED for r in rows if r["状态"] != "缺")
    assert [r["任务序号"] for r in rows if r["状态"] == "共用"] == [11, 38, 41, 45, 48]


async def test_hostile_file_names_stay_inside_their_folder(store: Store, tmp_path: Path) -> None:
    names = ["../../etc/passwd", "CON.txt", "a\x01b.pdf", "..\\..\\win.ini", ".hidden", "nul", "\u202egnp.exe"]
    for i, name in enumerate(names):
        await add_file(store, tmp_path, 2, 1, name, f"payload {i}".encode())
    result = await export_bundle(store, None, tmp_path / "b.zip")
    folder = "02-对事权管理范围内的重点单位用户严格下达…/01-2023年坪山区3-10万方纳入计划用水管理系统的用户清单"
    files = extract(result.path, tmp_path / "x")
    inside = sorted(n.rsplit("/", 1)[1] for n in files if n.startswith(folder + "/"))
    assert inside == sorted(["etc_passwd", "_CON.txt", "ab.pdf", "win.ini", "hidden", "_nul", "gnp.exe"])
    assert files[f"{folder}/etc_passwd"] == b"payload 0"
    original = {r["原文件名"] for r in index_rows(result.path) if r["状态"] == "已收"}
    assert "a\\x01b.pdf" in original and "../../etc/passwd" in original


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "etc_passwd"),
        ("CON.txt", "_CON.txt"),
        ("com1.tar.gz", "_com1.tar.gz"),
        ("a\x01b.pdf", "ab.pdf"),
        ("...", "文件"),
        ("报告: 第1版?.docx", "报告： 第1版？.docx"),
        ("会议纪要.pdf", "会议纪要.pdf"),
        ("名" * 300 + ".pdf", "名" * 76 + ".pdf"),
    ],
)
def test_safe_name(name: str, safe: str) -> None:
    assert safe_name(name) == safe
    assert len(safe_name(name).encode()) <= 240


def test_unique_name_numbers_duplicates_case_insensitively() -> None:
    taken: set[str] = set()
    assert [unique_name(n, taken) for n in ["a.pdf", "A.pdf", "a.pdf", "b"]] == ["a.pdf", "A (2).pdf", "a (3).pdf", "b"]


async def test_bundle_for_one_unit_holds_only_its_tasks(store: Store, tmp_path: Path) -> None:
    await add_file(store, tmp_path, 40, 1, "名单.pdf", b"edu", unit="区教育局")
    await add_file(store, tmp_path, 1, 1, "通知.pdf", b"water")
    result = await export_bundle(store, None, tmp_path / "edu.zip", unit="区教育局")
    with zipfile.ZipFile(result.path) as zf:
        tops = sorted({n.split("/")[0] for n in zf.namelist()})
    assert tops == ["40-在水量排名前10的学校中选取符合创建条…", "41-按照市水务局印发载体创建新标准",
                    "42-探索合同节水工作的运营管理机制和激励机制", "README.txt", "index.xlsx"]
    assert result.tasks == 3 and result.files == 1
    with pytest.raises(UserError, match="没有牵头的任务"):
        await export_bundle(store, None, tmp_path / "none.zip", unit="节水工作专项领导小组全体成员")


async def test_lost_stored_file_is_marked_not_fatal(store: Store, tmp_path: Path) -> None:
    sha = await add_file(store, tmp_path, 1, 2, "印发通知.pdf", b"gone")
    store.files.path_for(sha).unlink()
    result = await export_bundle(store, None, tmp_path / "b.zip")
    assert len(result.lost) == 1 and "印发通知.pdf" in result.lost[0]
    lost = [r for r in index_rows(result.path) if r["状态"] == "文件缺失"]
    assert len(lost) == 1 and lost[0]["_fill"] == "00FFEB9C"


async def test_evidence_is_stored_as_is_and_the_readme_deflated(store: Store, tmp_path: Path) -> None:
    await add_file(store, tmp_path, 1, 1, "说明.txt", "节水".encode() * 5000)
    await add_file(store, tmp_path, 1, 1, "扫描件.pdf", b"%PDF" * 5000)
    result = await export_bundle(store, None, tmp_path / "b.zip")
    with zipfile.ZipFile(result.path) as zf:
        kinds = {i.filename.rsplit("/", 1)[-1]: i.compress_type for i in zf.infolist()}
    assert kinds["说明.txt"] == kinds["扫描件.pdf"] == zipfile.ZIP_STORED  # copying beats deflating (bench)
    assert kinds["README.txt"] == zipfile.ZIP_DEFLATED


async def test_exports_leave_no_temporary_files(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "out"
    await export_ledger(store, None, out / "l.xlsx", TODAY)
    await export_bundle(store, None, out / "b.zip")
    assert sorted(p.name for p in out.iterdir()) == ["b.zip", "l.xlsx"]


# --- /export in chat -----------------------------------------------------------------------------


async def _no_push(push: Push) -> None:
    raise AssertionError("/export pushes nothing")


def chat(store: Store, units: UnitRegistry, plan: PlanView, state_dir: Path, *, coordinator: bool) -> Context:
    settings = Settings(state_dir=state_dir, database_url="sqlite+aiosqlite://")
    services = Services(store=store, clock=Clock(pinned_today=TODAY, pinned_time=dt.time(10, 0)), settings=settings, units=units, push=_no_push,
                        reads=ReadModel(store))
    person = PersonView(id=1, channel="console", user_id="boss", coordinator=coordinator,
                        unit=None if coordinator else "区水务局")
    msg = Message(channel="console", user_id="boss", chat=ChatRef("console", "boss"), text="/export")
    return Context(services, msg, person, plan)


async def test_export_command_sends_the_ledger_to_coordinators(store: Store, units: UnitRegistry,
                                                               tmp_path: Path) -> None:
    plan = await plan_of(store)
    replies = await export_handler.export(chat(store, units, plan, tmp_path / "state", coordinator=True), "")
    [reply] = replies
    assert reply.file is not None and reply.file.file_name == "台账-20231115.xlsx"
    assert reply.file.path.parent == tmp_path / "state" / "exports"
    assert load_workbook(reply.file.path)["台账"]["A1"].value == "序号"
    assert "任务63项" in reply.text  # that only coordinators may: the router's check, tests/test_access.py


async def test_export_bundle_in_chat_sends_small_zips_and_points_to_big_ones(
        store: Store, units: UnitRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = await plan_of(store)
    await add_file(store, tmp_path, 40, 1, "名单.pdf", b"edu", unit="区教育局")
    ctx = chat(store, units, plan, tmp_path / "state", coordinator=True)
    [small] = await export_handler.export(ctx, "材料 教育局")
    assert small.file is not None and small.file.file_name == "佐证材料-区教育局-20231115.zip"
    assert zipfile.is_zipfile(small.file.path)
    monkeypatch.setattr(export_handler, "SEND_LIMIT", 10)
    [big] = await export_handler.export(ctx, "材料")
    assert big.file is None
    assert "duban --plan pingshan-2023 export bundle --out" in big.text
    assert str(tmp_path / "state" / "exports" / "bundle-pingshan-2023-20231115.zip") in big.text
    with pytest.raises(UserError, match="用法"):
        await export_handler.export(ctx, "别的")


# --- the command line ------------------------------------------------------------------------------


def _parser_with_export() -> tuple[argparse.ArgumentParser, bool]:
    """Return the duban parser, adding `export` ourselves when the CLI does not register it yet."""
    from bot.cli.main import build_parser

    parser = build_parser()
    try:
        parser.parse_args(["export", "ledger", "--out", "x.xlsx"])
        return parser, True
    except SystemExit:
        from bot.cli.exports import register

        p = argparse.ArgumentParser(prog="duban")
        p.add_argument("--plan")
        sub = p.add_subparsers(dest="command")

        def add(name: str, func: object, help: str) -> argparse.ArgumentParser:
            sp = sub.add_parser(name, help=help)
            sp.set_defaults(func=func)
            return sp

        register(sub, add)  # type: ignore[arg-type]
        return p, False


def run_cli(argv: list[str]) -> int:
    from bot.cli.main import main

    parser, wired = _parser_with_export()
    if wired:
        return main(argv)
    from bot.app import App

    a = parser.parse_args(argv)

    async def go() -> None:
        app = await App.create(Settings())
        try:
            await a.func(app, a)
        finally:
            await app.close()

    asyncio.run(go())
    return 0


def test_cli_exports_ledger_bundle_and_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           units: UnitRegistry) -> None:
    monkeypatch.setenv("DUBAN_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DUBAN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/cli.db")
    monkeypatch.setenv("DUBAN_TODAY", TODAY.isoformat())
    monkeypatch.setenv("DUBAN_TIME", "10:00")
    assert run_cli(["export", "ledger", "--out", str(tmp_path / "台账.xlsx")]) == 0
    ws = load_workbook(tmp_path / "台账.xlsx")["台账"]
    assert ws.max_row == 64 and ws["B2"].value == "区水务局"
    assert run_cli(["export", "bundle", "--out", str(tmp_path / "b.zip"), "--unit", "教育局"]) == 0
    with zipfile.ZipFile(tmp_path / "b.zip") as zf:
        assert {n.split("/")[0][:3] for n in zf.namelist() if "/" in n} == {"40-", "41-", "42-"}
    assert run_cli(["export", "plan", "--plan", "pingshan-2023", "--out", str(tmp_path / "plan.xlsx")]) == 0
    from bot.planfiles.excel import load_plan_sheet

    assert load_plan_sheet(tmp_path / "plan.xlsx", units) == load_plan_file(default_plan_path(), units)

