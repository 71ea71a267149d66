"""A worker process before serve() takes over its signals."""

from __future__ import annotations

import subprocess
import sys

# SIGTERM arrives while the main thread is inside a gc callback, as it did once in CI while
# JAX imported (its gc hook): the handler must end the process there, with no traceback.
IN_A_GC_CALLBACK = """
import gc, os, signal, sys
from lookalike.server.group.worker import _stop_now
signal.signal(signal.SIGTERM, {handler})
def hook(phase, info):
    if phase == "start":
        os.kill(os.getpid(), signal.SIGTERM)
        sum(range(1000))  # the handler runs here, inside the callback
gc.callbacks.append(hook)
gc.collect()
raise SystemExit(3)  # only reached when the process ran on
"""


def stopped_inside_a_gc_callback(handler: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", IN_A_GC_CALLBACK.format(handler=handler)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_sigterm_while_starting_exits_at_once_even_inside_a_gc_callback():
    done = stopped_inside_a_gc_callback("_stop_now")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


def test_the_scenario_does_break_a_sys_exit_handler():
    """The check above can fail: sys.exit's SystemExit is swallowed in the callback and
    printed as an ignored exception's traceback (the handler before this fix)."""
    done = stopped_inside_a_gc_callback("lambda *_: sys.exit(0)")
    assert "Exception ignored" in done.stderr and "SystemExit: 0" in done.stderr
