"""Cells of the workbooks duban writes (台账, the bundle's index.xlsx, the plan export): text stays text.

Much of what these workbooks hold came from outside: file names, plan texts, progress notes, unit and people's
names. A file named `=HYPERLINK(…)` must reach the coordinator as a name, not as a live formula. Kept apart from
the writers so that the plan export (bot.planfiles.excel) and the exports use the one rule.
"""

from __future__ import annotations

from typing import Any

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

# What makes Excel or LibreOffice read typed text as a formula (the OWASP rule for spreadsheet injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def write_cell(ws: Any, row: int, column: int, value: object) -> Any:
    """Write a value into a cell and return the cell; text is stored as text whatever it starts with.

    openpyxl makes a string that starts with "=" a formula and one like "#N/A" an error value. Here every string
    is stored as a string cell (data type "s"): Excel and LibreOffice show it exactly as given and never evaluate
    it. Text that starts like a formula (=, +, -, @, tab, CR) also gets the cell style's quote prefix, the mark
    Excel gives text typed after an apostrophe, so that editing the cell later keeps it text. Nothing visible is
    added: an apostrophe written into the text itself would show in the cell and come back when the file is read
    (the plan export must read back as the plan). Control characters, which XML cannot hold, are shown as \\xNN.
    """
    cell = ws.cell(row=row, column=column)
    if not isinstance(value, str):
        cell.value = value
        return cell
    text = ILLEGAL_CHARACTERS_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", value)
    cell.value = text
    if cell.data_type != "s" or text.startswith(FORMULA_STARTS):
        cell.data_type = "s"
        cell.quotePrefix = True
    return cell
