"""Loaded (through PYTHONPATH) only by .ci/run's runs under a faked wall clock, in the tests and the duban processes
they start.

libfaketime 0.9.10 (Debian 12) mistranslates clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) when the monotonic
clock is kept real (FAKETIME_DONT_FAKE_MONOTONIC=1), and Python 3.11's time.sleep() is exactly that call: it fails
with EINVAL (libfaketime issue 426, fixed upstream after 0.9.10). subprocess waits with a timeout sleep in a loop, so
this makes time.sleep() wait on a lock with a timeout instead, which uses the real monotonic clock untouched.
"""

import threading
import time


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    threading.Event().wait(seconds)


time.sleep = _sleep
