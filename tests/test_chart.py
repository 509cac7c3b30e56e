"""The digest chart: a phone-sized PNG whose Chinese labels render with the shipped font."""

from __future__ import annotations

import logging
import os
import struct
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fontTools.ttLib import TTFont
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from bot.reports.chart import UnitProgressRow, cjk_font_path, render_progress_chart

ROWS = [
    UnitProgressRow("区水务局", done=5, submitted=2, open=3, overdue=1),
    UnitProgressRow("区住房和城乡建设局", done=1, submitted=0, open=7, overdue=3),
    UnitProgressRow("各街道办事处", done=12, submitted=3, open=5, overdue=0),
]
TITLE = "坪山区节水工作任务进度（截至2023年10月9日）"
# every string the chart itself draws, besides the units and the title
CACHE = Path(tempfile.gettempdir())  # unused here: this module imported matplotlib already
CHART_WORDS = "已完成待审核未完成逾期任务数暂无数据0123456789/"


def png_size(png: bytes) -> tuple[int, int]:
    """Read width and height from a PNG's IHDR chunk."""
    assert png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def render_text(text: str, font: FontProperties) -> np.ndarray:
    """Draw `text` alone on a small white canvas and return its pixels."""
    fig = Figure(figsize=(1.2, 0.5), dpi=100)
    canvas = FigureCanvasAgg(fig)
    fig.text(0.05, 0.3, text, fontproperties=font)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def font_cmap() -> dict[int, str]:
    """Return the shipped font's code point to glyph name map."""
    with TTFont(cjk_font_path(), lazy=True) as font:
        return dict(font["cmap"].getBestCmap())


def glyph_warnings(action: Callable[[], object], caplog: pytest.LogCaptureFixture) -> list[str]:
    """Run `action` and return every matplotlib complaint about a missing glyph, warning or log."""
    caplog.clear()
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        action()
    found = [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]
    return [message for message in found if "missing from font" in message]


def test_first_chart_writes_nothing_to_home(tmp_path: Path) -> None:
    home, state = tmp_path / "home", tmp_path / "state"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "MPL", "DUBAN_"))}
    env.update(HOME=str(home), DUBAN_STATE_DIR=str(state), DUBAN_TODAY="2023-10-20", DUBAN_TIME="10:00",
               DUBAN_COORDINATORS="console:admin")
    done = subprocess.run([sys.executable, "-m", "bot", "console", "--user", "admin"], input="/digest 图\n", env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, check=True)
    assert "进度图.png" in done.stdout or "progress-" in done.stdout, done.stdout[-500:]
    assert list(home.iterdir()) == []
    assert any((state / "cache" / "matplotlib").iterdir())  # the font cache lives with the rest of the state


def test_chart_is_a_phone_sized_png() -> None:
    png = render_progress_chart(ROWS, TITLE, CACHE)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert 10_000 < len(png) < 1_000_000
    width, height = png_size(png)
    assert 800 <= width <= 1100
    assert 300 <= height <= 2000


def test_chart_grows_with_the_number_of_units() -> None:
    many = [UnitProgressRow(f"第{i}街道办事处", done=i, submitted=1, open=2, overdue=i % 3) for i in range(20)]
    _, few_height = png_size(render_progress_chart(ROWS, TITLE, CACHE))
    _, many_height = png_size(render_progress_chart(many, TITLE, CACHE))
    assert many_height > few_height * 2


def test_chart_without_rows_still_renders() -> None:
    assert render_progress_chart([], TITLE, CACHE).startswith(b"\x89PNG")


def test_rendering_the_chart_reports_no_missing_glyph(caplog: pytest.LogCaptureFixture) -> None:
    assert glyph_warnings(lambda: render_progress_chart(ROWS, TITLE, CACHE), caplog) == []
    assert glyph_warnings(lambda: render_progress_chart([], TITLE, CACHE), caplog) == []


def test_missing_glyph_check_does_catch_a_character_outside_the_font(caplog: pytest.LogCaptureFixture) -> None:
    rows = [UnitProgressRow("区水务局🙂", done=1, submitted=0, open=0, overdue=0)]
    assert glyph_warnings(lambda: render_progress_chart(rows, TITLE, CACHE), caplog)


def test_shipped_font_maps_every_character_the_chart_draws() -> None:
    cmap = font_cmap()
    text = "".join(row.unit for row in ROWS) + TITLE + CHART_WORDS
    missing = sorted({ch for ch in text if ord(ch) not in cmap})
    assert missing == []


def test_shipped_font_covers_all_gb2312_hanzi() -> None:
    cmap = font_cmap()
    hanzi = set()
    for hi in range(0xB0, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                hanzi.add(bytes([hi, lo]).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    assert len(hanzi) == 6763
    assert {ch for ch in hanzi if ord(ch) not in cmap} == set()


def test_shipped_font_draws_real_glyphs_where_a_latin_font_draws_boxes() -> None:
    cjk = FontProperties(fname=cjk_font_path(), size=20)
    latin = FontProperties(family="DejaVu Sans", size=20)
    blank = render_text("", cjk)
    with_cjk = [render_text(ch, cjk) for ch in "区水务局"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DejaVu Sans lacks these glyphs: that is the point
        with_latin = [render_text(ch, latin) for ch in "区水务局"]
        assert not np.array_equal(render_text("区水务局", cjk), render_text("区水务局", latin))
    # four different characters give four different pictures with the shipped font ...
    assert all(not np.array_equal(image, blank) for image in with_cjk)
    assert all(not np.array_equal(a, b) for i, a in enumerate(with_cjk) for b in with_cjk[i + 1 :])
    # ... while a font without them draws the same placeholder for each (what tofu looks like)
    assert all(np.array_equal(with_latin[0], image) for image in with_latin[1:])


def test_font_ships_small_with_its_licence_beside_it() -> None:
    path = cjk_font_path()
    assert path.is_file()
    assert path.stat().st_size < 3 * 1024 * 1024
    licence = (path.parent / "OFL.txt").read_text(encoding="utf-8")
    assert "SIL OPEN FONT LICENSE Version 1.1" in licence
    assert (path.parent / "README.md").is_file()
