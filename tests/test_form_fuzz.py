"""The web forms' fuzz property (bench/fuzz_forms.py) on a bounded, fixed example set, so CI exercises it.

Before issue 18 this seed found the 500s (and the tracebacks in the log) that a raw newline, CR or NUL in a part's
headers and a CSRF field with non-ASCII characters gave.
"""

from __future__ import annotations

from pathlib import Path

from bench.fuzz_forms import run


def test_hostile_forms_never_get_a_5xx_and_refusals_store_nothing(tmp_path: Path) -> None:
    report = run(tmp_path, examples=40, seed_value=18)
    assert report["failure"] == ""
    assert report["to_upload_page"] and report["to_desk"] and report["accepted"] and report["refused_4xx"]
    assert report["hostile_names"] and report["over_limit"]
