"""Units are found by the names staff actually type, and ordinary words are not mistaken for units."""

from __future__ import annotations

import pytest

from bot.core.units import KIND_GROUP, Unit, UnitRegistry, normalize_unit_text
from bot.planfiles.yamlfile import default_units_path, load_units_file


@pytest.fixture(scope="module")
def units() -> UnitRegistry:
    return load_units_file(default_units_path())


def name_of(unit: Unit | None) -> str | None:
    return unit.name if unit is not None else None


ABBREVIATIONS = {
    "区水务局": ["水务局", "水务", "坪山区水务局"],
    "区住房和城乡建设局": ["住建局", "区住建局", "住建"],
    "区发展和改革局": ["发改局", "区发改局", "发改"],
    "区城市管理和综合执法局": ["城管局", "区城管局", "城管和综合执法局", "城管"],
    "区卫生健康局": ["卫健局", "区卫健局", "卫健"],
    "区工业和信息化局": ["工信局", "区工信局", "工业和信息局", "区工业和信息局"],
    "市市场监督管理局坪山监管局": ["市监局", "市场监管局", "坪山市监局", "市场监督管理局"],
    "市规划和自然资源局坪山管理局": ["规自局", "规土局", "规划和自然资源局", "坪山规自局"],
    "区机关事务管理中心": ["机关事务中心", "机关事务管理中心", "机关事务局"],
    "区教育局": ["教育局"],
    "区建筑工务署": ["工务署", "建筑工务署"],
    "区税务局": ["税务局", "坪山税务局"],
    "各供水企业": ["供水企业", "水务集团", "环水集团"],
    "区财政局": ["财政局"],
    "各街道办事处": ["街道办", "各街道", "街道"],
    "区科技创新局": ["科创局", "科技局"],
    "区重点片区建设发展中心": ["重点片区中心", "片区中心"],
    "投资推广服务署": ["区投资推广服务署", "投促署"],
    "城投公司": ["城投"],
    "产服公司": ["产服"],
    "人才安居有限公司": ["人才安居", "安居公司"],
    "节水工作专项领导小组全体成员": ["领导小组", "节水领导小组"],
}


@pytest.mark.parametrize(("canonical", "alias"), [(c, a) for c, aliases in ABBREVIATIONS.items() for a in aliases])
def test_get_and_resolve_accept_every_abbreviation(units: UnitRegistry, canonical: str, alias: str) -> None:
    assert name_of(units.get(alias)) == canonical
    match = units.resolve(alias)
    assert match.exact and name_of(match.unit) == canonical and match.candidates == (match.unit,)


def test_registry_holds_the_22_units_of_the_plan(units: UnitRegistry) -> None:
    assert len(units.all()) == 22
    assert set(ABBREVIATIONS) == {u.name for u in units.all()}
    assert units.get("节水工作专项领导小组全体成员") is not None
    group = units.get("领导小组")
    assert group is not None and KIND_GROUP in group.kinds


def test_no_alias_belongs_to_two_units(units: UnitRegistry) -> None:
    owners: dict[str, str] = {}
    for unit in units.all():
        for name in (unit.name, *unit.aliases):
            key = normalize_unit_text(name)
            assert owners.setdefault(key, unit.name) == unit.name, name


def test_get_ignores_spaces_and_width(units: UnitRegistry) -> None:
    assert name_of(units.get(" 区 水务局 ")) == "区水务局"
    assert name_of(units.get("住建局\u3000")) == "区住房和城乡建设局"
    assert units.get("区民政局") is None
    assert units.get("") is None


def test_registry_refuses_an_alias_of_two_units() -> None:
    with pytest.raises(ValueError, match="水务"):
        UnitRegistry([Unit("区水务局", aliases=("水务",)), Unit("各供水企业", aliases=("水务",))])


def test_resolve_is_sure_of_a_clear_near_miss(units: UnitRegistry) -> None:
    for typed, canonical in [
        ("发改委", "区发展和改革局"),
        ("工信", "区工业和信息化局"),
        ("建设局", "区住房和城乡建设局"),
        ("城管执法", "区城市管理和综合执法局"),
        ("我是住建局的联络员", "区住房和城乡建设局"),
    ]:
        match = units.resolve(typed)
        assert name_of(match.unit) == canonical, typed
        assert not match.exact


def test_resolve_offers_candidates_when_ambiguous(units: UnitRegistry) -> None:
    match = units.resolve("管理局")
    assert match.unit is None
    names = [u.name for u in match.candidates]
    assert {"市规划和自然资源局坪山管理局", "市市场监督管理局坪山监管局"} <= set(names)
    assert len(names) <= 5

    both = units.resolve("水务局和住建局")
    assert both.unit is None
    assert [u.name for u in both.candidates] == ["区水务局", "区住房和城乡建设局"]


def test_resolve_offers_candidates_for_an_unknown_name(units: UnitRegistry) -> None:
    match = units.resolve("区水利局")
    assert match.unit is None and not match.exact
    assert match.candidates[0].name == "区水务局"
    assert 1 <= len(match.candidates) <= 5


def test_resolve_finds_nothing_in_unrelated_text(units: UnitRegistry) -> None:
    for typed in ["苹果", "", "   ", "xyz"]:
        match = units.resolve(typed)
        assert match.unit is None and match.candidates == ()


def test_find_in_text_names_the_unit_of_a_sentence(units: UnitRegistry) -> None:
    cases = {
        "教育局的任务": "区教育局",
        "住建局十月份要交什么": "区住房和城乡建设局",
        "住建的任务还有哪些": "区住房和城乡建设局",
        "城管还差什么材料": "区城市管理和综合执法局",
        "问下发改有哪些任务": "区发展和改革局",
        "水务": "区水务局",
        "水务集团还有什么没交": "各供水企业",  # longer alias wins over 水务
        "坪山区水务局关于印发方案的通知": "区水务局",
        "市监局的第61项": "市市场监督管理局坪山监管局",
        "各街道办负责开展活动": "各街道办事处",
        "区工业和信息局配合的任务": "区工业和信息化局",
        "我是 规自局 的": "市规划和自然资源局坪山管理局",
    }
    for sentence, canonical in cases.items():
        assert name_of(units.find_in_text(sentence)) == canonical, sentence


def test_find_in_text_prefers_the_longest_mention(units: UnitRegistry) -> None:
    assert name_of(units.find_in_text("水务和区住房和城乡建设局")) == "区住房和城乡建设局"


def test_find_in_text_ignores_ordinary_sentences(units: UnitRegistry) -> None:
    for sentence in [
        "我单位有哪些任务",
        "还差哪些材料",
        "今天天气不错",
        "按市水务部门要求报送再生水利用量",  # 水务 here is part of 水务部门
        "在街道范围内开展节水宣传",  # 街道 here is a street, not the sub-district offices
        "市水务局移交的超计划单位",  # the city bureau, not 区水务局
        "",
    ]:
        assert units.find_in_text(sentence) is None, sentence
