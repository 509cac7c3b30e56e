"""The digest chart: per-unit task progress as a PNG that reads on a phone, with Chinese that renders.

The CJK font ships with the repository (data/fonts/) and is loaded by path, so the chart does not
depend on the fonts of the machine it runs on. Rendering uses an Agg canvas attached to a bare
Figure: no pyplot, no change to matplotlib's global backend or rcParams.

matplotlib is imported on the first chart, after MPLCONFIGDIR points into the state directory: its
import writes a config directory and a font cache, which would otherwise land in $HOME.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import bot

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_FONT_FILE = "NotoSansCJKsc-Regular-GB2312.otf"

# (label, colour) per segment, left to right
_DONE = ("已完成", "#2e7d32")
_SUBMITTED = ("待审核", "#f9a825")
_OPEN = ("未完成", "#b0bec5")
_OVERDUE_COLOUR = "#c62828"
_TEXT_COLOUR = "#37474f"

_WIDTH_IN = 6.0  # at DPI: 960 px, a phone screen's width without downscaling much
PHONE_WIDTH_IN = 3.6  # at DPI: 576 px, shown ~366 px wide on a 390 px phone: its smallest text stays >= 11 px there
DPI = 160
SMALL_PT = 9  # the smallest text the chart draws (counts, ticks, 逾期N)
_ROW_IN = 0.42
_CHROME_IN = 1.5  # title, legend, x axis


@dataclass(frozen=True)
class UnitProgressRow:
    """One unit's tasks by state, for the digest chart."""

    unit: str
    done: int
    submitted: int
    open: int
    overdue: int  # how many of the open ones are past their deadline

    @property
    def total(self) -> int:
        """Return the number of tasks the unit answers for."""
        return self.done + self.submitted + self.open


def cjk_font_path() -> Path:
    """Return the path of the CJK font shipped in data/fonts/."""
    return Path(bot.__file__).parents[1] / "data" / "fonts" / _FONT_FILE


def render_progress_chart(rows: Sequence[UnitProgressRow], title: str, cache_dir: Path,
                          width_in: float = _WIDTH_IN) -> bytes:
    """Render a horizontal stacked bar per unit (已完成 / 待审核 / 未完成, 逾期N noted) as PNG bytes.

    `cache_dir` takes matplotlib's config and font cache when this process imports it first.
    """
    os.environ.setdefault("MPLCONFIGDIR", str(cache_dir))
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.ticker import MaxNLocator

    font = cjk_font_path()
    text_font = FontProperties(fname=font, size=10)
    small_font = FontProperties(fname=font, size=SMALL_PT)
    title_font = FontProperties(fname=font, size=13)

    height = _CHROME_IN + _ROW_IN * max(len(rows), 2)
    fig = Figure(figsize=(width_in, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)  # attaches itself to the figure; savefig then renders with Agg
    fig.suptitle(title, fontproperties=title_font, color=_TEXT_COLOUR)
    ax = fig.add_subplot()

    if not rows:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "暂无数据", ha="center", va="center", fontproperties=text_font, color=_TEXT_COLOUR)
        return _png(fig)

    positions = list(range(len(rows)))
    left = [0] * len(rows)
    for (label, colour), values in (
        (_DONE, [r.done for r in rows]),
        (_SUBMITTED, [r.submitted for r in rows]),
        (_OPEN, [r.open for r in rows]),
    ):
        ax.barh(positions, values, left=left, height=0.62, color=colour, label=label)
        left = [a + b for a, b in zip(left, values, strict=True)]

    largest = max(max(r.total for r in rows), 1)
    for y, row in zip(positions, rows, strict=True):
        count = ax.annotate(
            f"{row.done}/{row.total}",
            xy=(row.total, y),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontproperties=small_font,
            color=_TEXT_COLOUR,
        )
        if row.overdue:
            ax.annotate(
                f"逾期{row.overdue}",
                xy=(1, 0.5),
                xycoords=count,
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontproperties=small_font,
                color=_OVERDUE_COLOUR,
            )

    ax.set_yticks(positions, [r.unit for r in rows], fontproperties=text_font)
    ax.invert_yaxis()  # first row on top
    ticks = [int(t) for t in MaxNLocator(nbins=6, integer=True).tick_values(0, largest) if 0 <= t <= largest]
    ax.set_xticks(ticks, [str(t) for t in ticks], fontproperties=small_font)
    ax.set_xlim(0, largest * 1.4)  # room for "done/total 逾期N" at the end of the longest bar
    ax.set_xlabel("任务数", fontproperties=small_font, color=_TEXT_COLOUR)
    ax.tick_params(colors=_TEXT_COLOUR, length=0)
    ax.grid(axis="x", color="#eceff1")
    ax.set_axisbelow(True)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.legend(
        loc="lower left",
        bbox_to_anchor=(0, 1.0),
        ncols=3,
        frameon=False,
        prop=text_font,
        borderaxespad=0.2,
        handlelength=1.2,
        columnspacing=1.2,
    )
    return _png(fig)


def _png(fig: Figure) -> bytes:
    """Return the figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()
