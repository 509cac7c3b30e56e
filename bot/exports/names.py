"""File and folder names that are safe on any system: every evidence file's name as it is kept (chat and web
uploads), the evidence bundle's folders and files, and the desk's downloads.

Apart from the bundle writer, so that naming a file does not load openpyxl.
"""

from __future__ import annotations

import re
import unicodedata

FILE_NAME_CHARS = 80
FOLDER_NAME_CHARS = 40
NAME_BYTES = 240  # file systems allow 255 bytes per name; leave room for " (12)"
_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", *(f"COM{i}" for i in range(10)),
                       *(f"LPT{i}" for i in range(10))})
# Characters Windows refuses in names, swapped for their full-width forms so the name still reads.
_WINDOWS_FORBIDDEN = str.maketrans({"<": "＜", ">": "＞", ":": "：", '"': "＂", "|": "｜", "?": "？", "*": "＊"})
_MAX_SUFFIX = 10


def safe_name(name: str, limit: int = FILE_NAME_CHARS, fallback: str = "文件", *, for_disk: bool = True) -> str:
    """Make a file or folder name safe on any system: one path component, no control characters, no reserved name.

    Chinese is kept; "/" and "\\" cannot separate folders, "." and ".." parts are dropped, leading dots
    are removed (no hidden files), and the length is capped with the extension kept. `for_disk` also makes
    it valid on Windows (<>:"|?* become their full-width forms, CON/NUL/COM1… get a "_" in front); a name
    that is only kept and shown (an upload's) leaves them as sent, and is made so when written out.
    """
    text = unicodedata.normalize("NFC", name)
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    parts = (p.strip() for p in re.split(r"[/\\]", text))
    text = "_".join(p for p in parts if p and p not in (".", ".."))
    text = re.sub(r"\s+", " ", text.translate(_WINDOWS_FORBIDDEN) if for_disk else text).strip(" .")
    if not text:
        return fallback
    if for_disk and text.split(".")[0].strip().upper() in _RESERVED:
        text = "_" + text
    return _cap(text, limit)


def _cap(text: str, limit: int) -> str:
    """Shorten a name to `limit` characters and NAME_BYTES bytes of UTF-8, keeping a short extension."""
    dot = text.rfind(".")
    suffix = text[dot:] if 0 < dot and len(text) - dot <= _MAX_SUFFIX else ""
    stem = text[: len(text) - len(suffix)]
    while stem and (len(stem) + len(suffix) > limit or len((stem + suffix).encode()) > NAME_BYTES):
        stem = stem[:-1]
    return (stem.rstrip(" .") or "文件") + suffix


def unique_name(name: str, taken: set[str]) -> str:
    """Return `name`, or "name (2).ext", "name (3).ext"… when a folder already holds it (case-insensitively)."""
    candidate, n = name, 2
    dot = name.rfind(".")
    stem, suffix = (name[:dot], name[dot:]) if 0 < dot and len(name) - dot <= _MAX_SUFFIX else (name, "")
    while candidate.casefold() in taken:
        candidate, n = f"{stem} ({n}){suffix}", n + 1
    taken.add(candidate.casefold())
    return candidate
