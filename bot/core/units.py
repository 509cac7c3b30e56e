"""Units of the plan: canonical names, the short names staff type, and finding a unit in a message."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from bot.core.errors import UserError

KIND_LEAD = "lead"
KIND_COOPERATING = "cooperating"
KIND_GROUP = "group"  # a collective such as 节水工作专项领导小组全体成员: every member unit
UNIT_KINDS = (KIND_LEAD, KIND_COOPERATING, KIND_GROUP)

# resolve() is confident only when the best unit scores this high and this far ahead of the next unit.
_CONFIDENT_SCORE = 80.0
_CONFIDENT_MARGIN = 10.0
_CANDIDATE_FLOOR = 30.0
_CANDIDATE_SPREAD = 30.0  # candidates must score within this of the best, so a near miss is not buried
_MAX_CANDIDATES = 5

# A two-character alias (水务, 住建, 街道 ...) is also an ordinary word, so inside a sentence it only
# counts when what follows it is grammar, not the rest of another word: "住建的任务" names a unit,
# "水务部门" and "街道范围" do not.
_SHORT_ALIAS_LEN = 2
_FOLLOWERS_OF_A_NAME = frozenset(
    "的有要还在和与及跟同这那哪呢吗啊呀吧了是需该应得都也就今本几多什怎为对负牵配交报提完做任"
    "一二三四五六七八九十月、。，"
)
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True)
class Unit:
    """A unit named in a plan (牵头单位 or 配合单位) and the other names it goes by."""

    name: str  # canonical, as the plan writes it
    kinds: tuple[str, ...] = ()  # subset of UNIT_KINDS
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class UnitMatch:
    """The outcome of resolving what someone typed: a unit when sure, else candidates to choose from."""

    unit: Unit | None
    candidates: tuple[Unit, ...] = ()
    exact: bool = False  # the text was a canonical name or alias, after normalising


def normalize_unit_text(text: str) -> str:
    """Fold full/half width and drop whitespace so "区 水务局" and "区水务局" compare equal."""
    folded = unicodedata.normalize("NFKC", text)
    return "".join(folded.split()).lower()


class UnitRegistry:
    """All known units, looked up by canonical name, alias, fuzzy match or mention in a sentence."""

    def __init__(self, units: Iterable[Unit]) -> None:
        self._units = tuple(units)
        self._by_key: dict[str, Unit] = {}
        for unit in self._units:
            for name in (unit.name, *unit.aliases):
                key = normalize_unit_text(name)
                if not key:
                    raise ValueError(f"empty name or alias for unit {unit.name!r}")
                owner = self._by_key.get(key)
                if owner is not None and owner.name != unit.name:
                    # Loaders check this first with a proper message; reaching here is a bug.
                    raise ValueError(f"alias {name!r} belongs to both {owner.name!r} and {unit.name!r}")
                self._by_key[key] = unit
        self._keys = tuple(self._by_key)
        # Longest first so the alternation prefers 水务集团 over 水务 at the same position; the
        # lookahead makes finditer report a match at every position, overlaps included.
        by_length = sorted(self._keys, key=len, reverse=True)
        alternation = "|".join(re.escape(k) for k in by_length)
        self._mention = re.compile(f"(?=({alternation}))") if by_length else None

    def all(self) -> tuple[Unit, ...]:
        """Return every unit in registry order."""
        return self._units

    def get(self, name: str) -> Unit | None:
        """Return the unit whose canonical name or alias is exactly `name` (after normalising)."""
        return self._by_key.get(normalize_unit_text(name))

    def resolve(self, text: str) -> UnitMatch:
        """Resolve a typed unit name: exact alias, then a single mention, then fuzzy matching."""
        key = normalize_unit_text(text)
        if not key:
            return UnitMatch(unit=None)
        unit = self._by_key.get(key)
        if unit is not None:
            return UnitMatch(unit=unit, candidates=(unit,), exact=True)
        mentioned = self._mentions(key)
        if len(mentioned) == 1:
            return UnitMatch(unit=mentioned[0], candidates=mentioned)
        if len(mentioned) > 1:
            return UnitMatch(unit=None, candidates=mentioned[:_MAX_CANDIDATES])
        ranked = self._fuzzy(key)
        if ranked:
            best_score = ranked[0][1]
            runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
            if best_score >= _CONFIDENT_SCORE and best_score - runner_up >= _CONFIDENT_MARGIN:
                return UnitMatch(unit=ranked[0][0], candidates=(ranked[0][0],))
        floor = max(_CANDIDATE_FLOOR, ranked[0][1] - _CANDIDATE_SPREAD) if ranked else _CANDIDATE_FLOOR
        candidates = tuple(u for u, score in ranked if score >= floor)
        return UnitMatch(unit=None, candidates=candidates[:_MAX_CANDIDATES])

    def closest(self, text: str, limit: int = 3) -> tuple[Unit, ...]:
        """Return up to `limit` units whose names look most like `text`, best first."""
        key = normalize_unit_text(text)
        return tuple(u for u, _ in self._fuzzy(key)[:limit]) if key else ()

    def find_in_text(self, text: str) -> Unit | None:
        """Return the unit a sentence names ("教育局的任务" -> 区教育局); the longest mention wins."""
        key = normalize_unit_text(text)
        best: tuple[int, int, Unit] | None = None  # (length, -position, unit)
        for start, alias in self._valid_mentions(key):
            candidate = (len(alias), -start, self._by_key[alias])
            if best is None or candidate[:2] > best[:2]:
                best = candidate
        return best[2] if best is not None else None

    def _mentions(self, key: str) -> tuple[Unit, ...]:
        """Return the distinct units mentioned in normalised text, in order of first mention."""
        seen: dict[str, Unit] = {}
        for _, alias in self._valid_mentions(key):
            unit = self._by_key[alias]
            seen.setdefault(unit.name, unit)
        return tuple(seen.values())

    def _valid_mentions(self, key: str) -> list[tuple[int, str]]:
        """List (position, alias) of every alias occurrence that reads as a unit name."""
        if self._mention is None:
            return []
        found: list[tuple[int, str]] = []
        for m in self._mention.finditer(key):
            alias = m.group(1)
            start = m.start()
            end = start + len(alias)
            unit = self._by_key[alias]
            if len(alias) <= _SHORT_ALIAS_LEN and end < len(key):
                nxt = key[end]
                if _CJK.match(nxt) and nxt not in _FOLLOWERS_OF_A_NAME:
                    continue
            # "市水务局" is the city bureau, not 区水务局: a district unit's alias after 市 is not it.
            if unit.name.startswith("区") and not alias.startswith("区") and start > 0 and key[start - 1] == "市":
                continue
            found.append((start, alias))
        return found

    def _fuzzy(self, key: str) -> list[tuple[Unit, float]]:
        """Rank units by their best-scoring name or alias against normalised text."""
        best: dict[str, tuple[Unit, float]] = {}
        matches = process.extract(key, self._keys, scorer=fuzz.WRatio, limit=None, score_cutoff=1)
        for alias, score, _ in matches:
            unit = self._by_key[alias]
            if unit.name not in best or score > best[unit.name][1]:
                best[unit.name] = (unit, float(score))
        return sorted(best.values(), key=lambda pair: pair[1], reverse=True)


def require_unit(units: UnitRegistry, text: str) -> Unit:
    """Resolve a unit name or abbreviation, or refuse in Chinese listing the closest candidates."""
    match = units.resolve(text)
    if match.unit is not None:
        return match.unit
    if match.candidates:
        names = "、".join(u.name for u in match.candidates)
        raise UserError(f"没有确定是哪个单位：“{text}”。您是指：{names}？请写得更完整一些。")
    raise UserError(f"没有找到单位“{text}”。发送 /units（或运行 duban units）查看全部单位名称。")
