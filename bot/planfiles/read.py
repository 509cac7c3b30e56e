"""Read any plan file duban takes, by its kind: one entry for the CLI, the first start and the desk."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bot.core.units import UnitRegistry
from bot.planfiles.result import ReadResult
from bot.planfiles.yamlfile import load_plan_file

SHEETS = (".xlsx", ".xlsm", ".xls")
DOCUMENTS = (".docx", ".doc", ".wps")


def read_plan(path: Path, units: UnitRegistry, key: str | None = None) -> ReadResult:
    """Read a plan file (YAML, Excel or Word), with the values its reader had to infer; `key` names the plan."""
    suffix = path.suffix.lower()
    # the spreadsheet and Word readers load openpyxl / python-docx: only when such a file is read
    if suffix in SHEETS:
        from bot.planfiles.excel import read_plan_sheet

        return read_plan_sheet(path, units, key)
    if suffix in DOCUMENTS:
        from bot.planfiles.word import read_plan_docx

        return read_plan_docx(path, units, key)
    spec = load_plan_file(path, units)
    return ReadResult(dataclasses.replace(spec, key=key) if key else spec)
