"""The 督办通知单 as a Word document: rendered from what the notice said when it was issued, the same every time."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from bot.core.atomic import atomic_path
from bot.core.views import NoticeView

if TYPE_CHECKING:
    import docx.document

FONT = "仿宋"  # the body font of government documents (GB/T 9704); Word falls back where it is missing


def notice_docx(n: NoticeView) -> bytes:
    """Return the notice as .docx bytes: title, number, addressee, the task, both deadlines, missing 材料, urges.

    python-docx (with lxml) loads here, when a notice is rendered: not in every process that imports the module.
    """
    import docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Pt

    c = n.content
    doc = docx.Document()
    style = doc.styles["Normal"]
    style.font.name, style.font.size = FONT, Pt(14)
    style.element.rPr.rFonts.set(qn("w:eastAsia"), FONT)
    _centered(doc, "督办通知单", 22, bold=True)
    _centered(doc, n.label, 14)
    doc.add_paragraph(f"{c.get('unit', n.unit)}：")
    doc.add_paragraph(str(c.get("opening", "")))
    table = doc.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    rows = [("任务", f"第{n.task_no}项：{c.get('task_text', '')}"), ("牵头单位", str(c.get("lead", n.unit))),
            ("原定完成时间", str(c.get("deadline_plan", ""))), ("现完成时间", str(c.get("deadline_now", ""))),
            ("当前状态", str(c.get("status", "")))]
    rows.append(("尚缺佐证材料", "\n".join(_lines(c.get("missing"))) or "无"))
    rows.append(("此前催办", "\n".join(_lines(c.get("urges"))) or "无"))
    for label, value in rows:
        cells = table.add_row().cells
        cells[0].text, cells[1].text = label, value
    doc.add_paragraph(str(c.get("request", "")))
    for line in (str(c.get("office", "")), str(c.get("issued", ""))):
        doc.add_paragraph(line).alignment = WD_ALIGN_PARAGRAPH.RIGHT
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def write_notice(n: NoticeView, path: Path) -> Path:
    """Write the notice's .docx at `path` whole (blocking: call it in a thread) and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(notice_docx(n))
    return path


def _lines(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _centered(doc: docx.document.Document, text: str, size: float, *, bold: bool = False) -> None:
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    run = doc.add_paragraph().add_run(text)
    run.font.size, run.bold = Pt(size), bold
    run.font.name = FONT
    doc.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
