"""What a duban process loads: the heavy libraries (python-docx with lxml, numpy, openpyxl, matplotlib) only when
something is rendered or compared, so a bot process or a reminder run that renders nothing stays small."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("docx", "lxml", "numpy", "openpyxl", "matplotlib")
PROBE = f"""
import sys
from bot.cli.main import main
sys.argv = ["duban", "remind", "run-once"]
try:
    main()
except SystemExit:
    pass
print("LOADED", sorted(m for m in {HEAVY!r} if m in sys.modules))
"""


def test_a_reminder_run_with_nothing_to_render_loads_no_heavy_library(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env.update(DUBAN_STATE_DIR=str(tmp_path), DUBAN_TODAY="2023-10-20", DUBAN_TIME="10:00")
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, check=True)
    assert "LOADED []" in done.stdout, done.stdout[-500:] + done.stderr[-500:]
