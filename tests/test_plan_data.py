"""The Pingshan 2023 plan file says what the PDF table says, and bad plan files are refused clearly."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from bot.core.errors import PlanFileError
from bot.core.plan import PlanSpec, Recurrence, TaskSpec
from bot.core.units import KIND_COOPERATING, KIND_LEAD, UnitRegistry
from bot.planfiles.yamlfile import (
    default_plan_path,
    default_units_path,
    load_plan_file,
    load_units_file,
    plan_to_yaml,
)


@pytest.fixture(scope="module")
def units() -> UnitRegistry:
    return load_units_file(default_units_path())


@pytest.fixture(scope="module")
def plan(units: UnitRegistry) -> PlanSpec:
    return load_plan_file(default_plan_path(), units)


def task(plan: PlanSpec, no: int) -> TaskSpec:
    return next(t for t in plan.tasks if t.no == no)


def titles(t: TaskSpec) -> list[str]:
    return [item.title for item in t.evidence]


# --- the transcription ----------------------------------------------------------------------------


def test_plan_header(plan: PlanSpec) -> None:
    assert plan.key == "pingshan-2023"
    assert plan.title == "2023年坪山区节水典范城市建设工作任务分工表"
    assert plan.attachment == "附件2"
    assert plan.year == 2023
    assert plan.district == "坪山区"


def test_plan_has_63_tasks_numbered_in_order(plan: PlanSpec) -> None:
    assert [t.no for t in plan.tasks] == list(range(1, 64))


def test_merged_lead_cells_cover_the_right_rows(plan: PlanSpec) -> None:
    expected = {
        "区水务局": range(1, 33),
        "市规划和自然资源局坪山管理局": range(33, 34),
        "区机关事务管理中心": range(34, 40),
        "区教育局": range(40, 43),
        "区卫生健康局": range(43, 44),
        "区住房和城乡建设局": range(44, 47),
        "区城市管理和综合执法局": range(47, 50),
        "区建筑工务署": range(50, 53),
        "区发展和改革局": range(53, 54),
        "各供水企业": range(54, 61),
        "市市场监督管理局坪山监管局": range(61, 63),
        "区税务局": range(63, 64),
    }
    for lead, nos in expected.items():
        assert [t.no for t in plan.tasks if t.lead == lead] == list(nos), lead
    assert Counter(t.lead for t in plan.tasks) == {lead: len(nos) for lead, nos in expected.items()}


def test_deadline_counts_match_the_table(plan: PlanSpec) -> None:
    assert Counter(t.deadline_raw for t in plan.tasks) == {"全年": 29, "2023.11": 21, "2023.10": 7, "2023.9": 6}
    assert [t.no for t in plan.tasks if t.deadline_raw == "2023.9"] == [10, 37, 40, 44, 47, 57]
    assert [t.no for t in plan.tasks if t.deadline_raw == "2023.10"] == [11, 16, 17, 38, 41, 45, 48]


def test_deadlines_are_the_last_day_allowed(plan: PlanSpec) -> None:
    assert task(plan, 10).deadline == dt.date(2023, 9, 30)
    assert task(plan, 11).deadline == dt.date(2023, 10, 31)
    assert task(plan, 1).deadline == dt.date(2023, 11, 30)
    assert task(plan, 2).deadline == dt.date(2023, 12, 31)


def test_evidence_lists_keep_their_numbering_across_pages(plan: PlanSpec) -> None:
    lengths = {1: 6, 2: 3, 4: 6, 6: 10, 7: 1, 10: 4, 20: 5, 37: 6, 40: 5, 44: 4, 47: 5, 56: 1, 58: 7, 63: 3}
    assert {no: len(task(plan, no).evidence) for no in lengths} == lengths
    for t in plan.tasks:
        assert [item.no for item in t.evidence] == list(range(1, len(t.evidence) + 1))
    six = titles(task(plan, 6))
    assert six[5] == "《坪山区3万立方米至10万立方米用户清单》"
    assert six[9] == "《相关用户整改情况说明》"
    assert titles(task(plan, 20))[4] == "《四次宣传培训相关媒体新闻报告》"


def test_evidence_titles_are_exact(plan: PlanSpec) -> None:
    assert titles(task(plan, 1))[1] == "坪山区水务局关于印发《深圳市坪山区2023年节水典范城市建设工作实施方案》的通知"
    assert titles(task(plan, 6))[3] == "《深圳市坪山区建设项目节水“三同时”落实情况检查记录表》及督促检查台账"
    assert titles(task(plan, 12))[3] == "《企业再生水利用资料》（设施照片、计量台账等）"
    assert titles(task(plan, 9))[0] == "《广东省用水定额》（DB44T 1461-2021）"
    assert titles(task(plan, 58))[6] == "《供水企业的特种行业用水行业整改落实情况说明》"
    for t in plan.tasks:
        for title in titles(t):
            assert not re.match(r"[(（]\d+[)）]", title), title
            assert not title.endswith(("；", ";", "。")), title


def test_exactly_five_merged_evidence_cells_are_shared(plan: PlanSpec) -> None:
    pairs = [(10, 11), (37, 38), (40, 41), (44, 45), (47, 48)]
    shared = {t.no: t.evidence_shared_with for t in plan.tasks if t.evidence_shared_with}
    assert shared == {n: (m,) for a, b in pairs for n, m in ((a, b), (b, a))}
    for a, b in pairs:
        assert task(plan, a).evidence == task(plan, b).evidence
    assert len(task(plan, 37).evidence) == 6
    assert titles(task(plan, 38))[4] == (
        "《坪山区公共机构节能工作领导小组办公室坪山区水务局关于公布坪山区2023年公共机构节水型单位名单的通知》"
    )
    assert titles(task(plan, 11))[3] == "《辖区载体及节水标杆创建情况说明》"
    assert titles(task(plan, 45)) == [
        "《关于开展2023年度深圳市节水载体创建工作的通知》（深水节〔2023〕30号）",
        "《节水型居民小区创建材料（2家）》",
        "《辖区居民小区用水量排名统计表》",
        "《辖区载体及节水标杆创建情况说明》",
    ]


def test_tasks_30_to_32_have_no_evidence(plan: PlanSpec) -> None:
    assert [t.no for t in plan.tasks if not t.evidence] == [30, 31, 32]


def test_notes_explain_their_tasks(plan: PlanSpec) -> None:
    assert [(n.no, n.tasks) for n in plan.notes] == [(1, (30, 31, 32)), (2, (15,))]
    assert plan.notes[0].text.startswith("水资源论证区域评估要求：根据《深圳市水资源论证区域评估技术指南（试行）》")
    assert "《城市污水再生利用 城市杂用水水质》" in plan.notes[1].text
    assert "（2）水压不小于0.1Mpa；" in plan.notes[1].text
    assert plan.notes[1].text.endswith("（7）可线上查询用水数据")


def test_texts_joined_across_page_breaks(plan: PlanSpec) -> None:
    assert task(plan, 10).text == (
        "在水量排名前10的企业中选取符合创建条件的企业（工业园），按照市水务局印发的节水载体创建标准"
        "开展节水型企业（园区）创建工作，最终完成不少于1家的创建任务数，覆盖率达到32%的要求。"
    )
    assert task(plan, 44).text == (
        "在水量排名前10的居民小区中选取符合创建条件的居民小区，按照市水务局印发的节水载体创建标准"
        "开展节水型居民小区创建工作，最终完成不少于2家的创建任务数，覆盖率达到34%的要求。"
    )
    assert task(plan, 31).cooperating == ("区科技创新局", "市规划和自然资源局坪山管理局")
    assert task(plan, 32).cooperating == ("区重点片区建设发展中心", "市规划和自然资源局坪山管理局")


def test_cooperating_units_are_canonical(plan: PlanSpec) -> None:
    assert task(plan, 10).cooperating == ("区工业和信息化局",)
    assert task(plan, 23).cooperating == ("区工业和信息化局",)
    assert task(plan, 1).cooperating == ("节水工作专项领导小组全体成员",)
    assert task(plan, 7).cooperating == ("区住房和城乡建设局", "区建筑工务署", "城投公司", "产服公司", "人才安居有限公司")
    assert task(plan, 53).cooperating == ("区工业和信息化局", "投资推广服务署")
    assert task(plan, 2).cooperating == ()
    no_cooperating = [2, 3, 5, 6, 8, 13, 16, 17, 18, 19, 20, 21, 25, 27, 28, 39, 42, 43, 49, 52, 55, 57, 58, 63]
    assert [t.no for t in plan.tasks if not t.cooperating] == no_cooperating


def test_every_unit_in_the_plan_is_registered_with_its_kind(plan: PlanSpec, units: UnitRegistry) -> None:
    for t in plan.tasks:
        lead = units.get(t.lead)
        assert lead is not None and lead.name == t.lead and KIND_LEAD in lead.kinds
        for name in t.cooperating:
            unit = units.get(name)
            assert unit is not None and unit.name == name and KIND_COOPERATING in unit.kinds
    leads = {t.lead for t in plan.tasks}
    cooperating = {name for t in plan.tasks for name in t.cooperating}
    for unit in units.all():
        assert (KIND_LEAD in unit.kinds) == (unit.name in leads), unit.name
        assert (KIND_COOPERATING in unit.kinds) == (unit.name in cooperating), unit.name


def test_source_typos_are_kept(plan: PlanSpec) -> None:
    assert titles(task(plan, 19))[1] == "《协助市水务局将数据纳入深圳市地下管线综合信息管理系统证明文件的证明文件》"
    assert titles(task(plan, 6))[4] == "《坪山区建设项目用水用水评估报告备案全套资料》"


def test_extraction_spaces_and_half_width_punctuation_are_gone(plan: PlanSpec) -> None:
    cjk_space = re.compile(r"[\u4e00-\u9fff（），；：、《》]\s|\s[\u4e00-\u9fff（），；：、《》]")
    texts = [t.text for t in plan.tasks] + [i.title for t in plan.tasks for i in t.evidence]
    for text in texts:
        assert "2023 年" not in text and "2023. " not in text
        assert not cjk_space.search(text), text
        assert not re.search(r"[,;()]", text), text
    assert task(plan, 2).text.endswith("实现用户100%管理。")
    assert task(plan, 21).text == (
        "每季度向市节水办上报不少于1条节水宣传信息（包括报纸、电视台、公众号等媒体的新闻稿及链接），全年报送不少于4次。"
    )


def test_recurrence_only_where_the_text_repeats(plan: PlanSpec) -> None:
    recurring = {t.no: t.recurrence for t in plan.tasks if t.recurrence is not None}
    assert recurring == {14: Recurrence.MONTHLY, 21: Recurrence.QUARTERLY, 60: Recurrence.QUARTERLY}


def test_targets_are_read_from_the_text(plan: PlanSpec) -> None:
    def summary(no: int) -> list[tuple[str, float, str, str]]:
        return [(g.phrase, g.value, g.unit, g.comparison) for g in task(plan, no).targets]

    assert summary(10) == [("不少于1家", 1, "家", "at_least"), ("覆盖率达到32%", 32, "%", "at_least")]
    assert summary(15) == [("覆盖率大于90%", 90, "%", "more_than")]
    assert summary(20) == [("4次及以上", 4, "次", "at_least")]
    assert summary(40) == [("完成3家", 3, "家", "exactly")]
    assert summary(52) == [("不少于10个工地", 10, "个", "at_least")]
    assert summary(58) == [("至少2次", 2, "次", "at_least"), ("每次不少于5家", 5, "家", "at_least")]
    assert summary(19) == [("坪山9.5km", 9.5, "km", "exactly")]
    for t in plan.tasks:
        for g in t.targets:
            assert g.phrase in t.text


def test_round_trip_through_yaml_gives_an_equal_plan(plan: PlanSpec, units: UnitRegistry, tmp_path: Path) -> None:
    out = tmp_path / "again.yaml"
    out.write_text(plan_to_yaml(plan), encoding="utf-8")
    again = load_plan_file(out, units)
    assert again == plan
    assert plan_to_yaml(again).count("evidence_from:") == 5


def test_round_trip_keeps_awkward_strings(units: UnitRegistry, tmp_path: Path) -> None:
    base = load_plan_file(default_plan_path(), units)
    odd = dataclasses.replace(
        base.tasks[0],
        text="no: #1 “引号” 'x' [a, b] {c} % 50%",
        deadline_raw="全年",
        deadline=dt.date(2023, 12, 31),
    )
    plan = dataclasses.replace(base, title="yes", tasks=(odd, *base.tasks[1:]))
    out = tmp_path / "odd.yaml"
    out.write_text(plan_to_yaml(plan), encoding="utf-8")
    assert load_plan_file(out, units) == plan


# --- refusals ---------------------------------------------------------------------------------------

HEADER = """\
key: test
title: 测试计划
attachment: 附件1
year: 2023
tasks:
"""

TASK_1 = """\
  - no: 1
    lead: 区水务局
    text: 第一项任务。
    deadline: "2023.9"
    evidence: [《材料甲》, 《材料乙》]
"""


def write(tmp_path: Path, body: str, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def refusal(path: Path, units: UnitRegistry) -> str:
    with pytest.raises(PlanFileError) as caught:
        load_plan_file(path, units)
    return caught.value.message


def test_a_small_valid_file_loads(tmp_path: Path, units: UnitRegistry) -> None:
    body = HEADER + TASK_1 + """\
  - no: 2
    lead: 住建局
    text: 第二项任务。
    deadline: 全年
    cooperating: [区工业和信息局, 街道办]
    evidence_from: 1
notes:
  - no: 1
    text: 说明。
    tasks: [2]
"""
    plan = load_plan_file(write(tmp_path, body), units)
    second = plan.tasks[1]
    assert second.lead == "区住房和城乡建设局"
    assert second.cooperating == ("区工业和信息化局", "各街道办事处")
    assert [i.title for i in second.evidence] == ["《材料甲》", "《材料乙》"]
    assert plan.tasks[0].evidence_shared_with == (2,) and second.evidence_shared_with == (1,)
    assert plan.notes[0].tasks == (2,)


def test_bad_deadline_is_refused_naming_file_task_and_field(tmp_path: Path, units: UnitRegistry) -> None:
    body = HEADER + TASK_1 + """\
  - no: 12
    lead: 区水务局
    text: 任务。
    deadline: "2023.13"
"""
    message = refusal(write(tmp_path, body, "x.yaml"), units)
    assert message == (
        "计划文件 x.yaml 第12项任务的「完成时间」无法识别：“2023.13”（应为 2023.9 这样的年月，或“全年”）"
    )


def test_unquoted_deadline_is_refused(tmp_path: Path, units: UnitRegistry) -> None:
    body = HEADER + TASK_1.replace('"2023.9"', "2023.10")
    message = refusal(write(tmp_path, body), units)
    assert "bad.yaml" in message and "第1项任务" in message and "「完成时间」" in message and "引号" in message


def test_missing_field_is_refused(tmp_path: Path, units: UnitRegistry) -> None:
    body = HEADER + TASK_1 + """\
  - no: 7
    lead: 区水务局
    deadline: 全年
"""
    message = refusal(write(tmp_path, body), units)
    assert message == "计划文件 bad.yaml 第7项任务缺少「工作任务」（text）"


def test_missing_task_number_is_refused(tmp_path: Path, units: UnitRegistry) -> None:
    body = HEADER + TASK_1 + """\
  - lead: 区水务局
    text: 任务。
    deadline: 全年
"""
    message = refusal(write(tmp_path, body), units)
    assert "bad.yaml" in message and "第2条任务" in message and "「序号」" in message


def test_duplicate_task_number_is_refused(tmp_path: Path, units: UnitRegistry) -> None:
    message = refusal(write(tmp_path, HEADER + TASK_1 + TASK_1), units)
    assert "bad.yaml" in message and "第1项任务" in message and "「序号」" in message and "重复" in message


def test_unknown_unit_is_refused_with_three_candidates(tmp_path: Path, units: UnitRegistry) -> None:
    body = HEADER + TASK_1 + """\
  - no: 3
    lead: 区水务局
    text: 任务。
    deadline: 全年
    cooperating: [区水利局]
"""
    message = refusal(write(tmp_path, body), units)
    assert message.startswith("计划文件 bad.yaml 第3项任务的「配合单位」")
    assert "“区水利局”" in message
    candidates = message.split("最接近的是：")[1].rstrip("）").split("、")
    assert len(candidates) == 3 and candidates[0] == "区水务局"


def test_unknown_lead_is_refused(tmp_path: Path, units: UnitRegistry) -> None:
    message = refusal(write(tmp_path, HEADER + TASK_1.replace("lead: 区水务局", "lead: 区民政局")), units)
    assert message.startswith("计划文件 bad.yaml 第1项任务的「牵头单位」") and "区民政局" in message


def test_evidence_from_a_missing_task_is_refused(tmp_path: Path, units: UnitRegistry) -> None:
    body = HEADER + TASK_1 + """\
  - no: 2
    lead: 区水务局
    text: 任务。
    deadline: 全年
    evidence_from: 99
"""
    message = refusal(write(tmp_path, body), units)
    assert message == "计划文件 bad.yaml 第2项任务的「佐证材料（evidence_from）」引用的第99项任务不存在"


def test_chained_evidence_from_is_refused(tmp_path: Path, units: UnitRegistry) -> None:
    body = HEADER + TASK_1 + """\
  - no: 2
    lead: 区水务局
    text: 任务。
    deadline: 全年
    evidence_from: 1
  - no: 3
    lead: 区水务局
    text: 任务。
    deadline: 全年
    evidence_from: 2
"""
    message = refusal(write(tmp_path, body), units)
    assert "bad.yaml" in message and "第3项任务" in message and "evidence_from" in message
    assert "第2项" in message and "第1项" in message


def test_note_pointing_to_a_missing_task_is_refused(tmp_path: Path, units: UnitRegistry) -> None:
    body = HEADER + TASK_1 + """\
notes:
  - no: 2
    text: 说明。
    tasks: [1, 64]
"""
    message = refusal(write(tmp_path, body), units)
    assert message == "计划文件 bad.yaml 备注2的「关联任务」引用的第64项任务不存在"


def test_target_phrase_not_in_the_text_is_refused(tmp_path: Path, units: UnitRegistry) -> None:
    body = HEADER + TASK_1 + """\
    targets:
      - {phrase: 不少于5家, value: 5, unit: 家}
"""
    message = refusal(write(tmp_path, body), units)
    assert message.startswith("计划文件 bad.yaml 第1项任务的「量化指标」") and "不少于5家" in message


def test_misspelt_field_is_refused(tmp_path: Path, units: UnitRegistry) -> None:
    message = refusal(write(tmp_path, HEADER + TASK_1.replace("evidence:", "evidance:")), units)
    assert "bad.yaml" in message and "第1项任务" in message and "evidance" in message


def test_not_yaml_is_refused(tmp_path: Path, units: UnitRegistry) -> None:
    message = refusal(write(tmp_path, "key: [unclosed\ntitle: x\n"), units)
    assert message.startswith("计划文件 bad.yaml 不是有效的 YAML")


def test_not_a_mapping_is_refused(tmp_path: Path, units: UnitRegistry) -> None:
    message = refusal(write(tmp_path, "- 1\n- 2\n"), units)
    assert message.startswith("计划文件 bad.yaml 的顶层应为键值映射")


def test_missing_file_is_refused(tmp_path: Path, units: UnitRegistry) -> None:
    assert refusal(tmp_path / "nowhere.yaml", units) == "计划文件 nowhere.yaml 不存在"


def test_units_file_refuses_an_alias_of_two_units(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        units:
          - name: 区水务局
            kinds: [lead]
            aliases: [水务]
          - name: 各供水企业
            kinds: [lead]
            aliases: [水务]
        """,
        "units.yaml",
    )
    with pytest.raises(PlanFileError) as caught:
        load_units_file(path)
    assert "units.yaml" in caught.value.message and "各供水企业" in caught.value.message
    assert "“水务”已属于“区水务局”" in caught.value.message
