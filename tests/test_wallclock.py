"""The suite's runs under a faked wall clock really run at the hour they claim (skipped in ordinary runs).

.ci/run runs the suite again at 03:00 and 21:00 Shanghai under libfaketime and names the hour in
DUBAN_TEST_WALLCLOCK_HOUR. If the faking reached neither this process nor the `duban` processes tests start,
those runs would prove nothing about the hour; this test fails then.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.core.clock import SHANGHAI

HOUR = os.environ.get("DUBAN_TEST_WALLCLOCK_HOUR", "")

pytestmark = pytest.mark.skipif(not HOUR, reason="only under .ci/run's faked wall clock (faketime)")


def test_this_process_and_a_duban_process_see_the_faked_hour(tmp_path: Path) -> None:
    now = dt.datetime.now(SHANGHAI)
    assert now.hour == int(HOUR)
    evidence = tmp_path / "报告.pdf"
    evidence.write_bytes(b"%PDF filed at the faked hour")
    # No DUBAN_TODAY or DUBAN_TIME: the duban process tells the time by its own (faked) wall clock
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env.update(DUBAN_STATE_DIR=str(tmp_path / "state"), DUBAN_COORDINATORS="console:admin")
    done = subprocess.run([sys.executable, "-m", "bot", "console", "--user", "admin"],
                          input=f"/upload {evidence} 12-1\n/files 12\n", env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, check=True)
    # /files shows when each file arrived, in Shanghai time
    assert re.search(rf"报告\.pdf（\d+B，节水办，{now:%m-%d} {now:%H}:\d\d）", done.stdout), done.stdout[-500:]
