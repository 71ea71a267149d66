"""`lookalike serve` through its real entry point: unusable settings, SIGTERM while loading."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest


def serve_command(collection, *flags: str) -> list[str]:
    return [sys.executable, "-m", "lookalike.app.cli", "serve", str(collection), *flags]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port another program is listening on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.mark.parametrize(
    ("flags", "environ", "words"),
    [
        # Used to serve on 70000 - 65536 = 4464 without a word.
        (["--port", "70000"], {}, "--port must be at most 65535, got 70000"),
        ([], {"LOOKALIKE_PORT": "70000"}, "LOOKALIKE_PORT must be at most 65535, got 70000"),
        # Used to end in a RuntimeError traceback from grpcio.
        (["--host", "999.1.1.1"], {}, "'999.1.1.1' is not an IP address or a host name"),
        # Used to end in an OverflowError traceback.
        (["--max-message-bytes", "3000000000"], {},
         "--max-message-bytes must be at most 2147483647, got 3000000000"),
        (["--grace", "nan"], {}, "--grace must be a finite number"),
        (["--metrics-port", "99999"], {}, "--metrics-port must be at most 65535"),
    ],
    ids=["port-70000", "env-port-70000", "host-999", "message-bytes-3e9", "grace-nan",
         "metrics-port"],
)
def test_an_unusable_setting_exits_2_with_its_message(built_collection, flags, environ, words):
    done = subprocess.run(serve_command(built_collection, *flags), capture_output=True,
                          text=True, timeout=120, env={**os.environ, **environ}, check=False)
    assert done.returncode == 2, done.stderr
    assert words in done.stderr
    assert "Traceback" not in done.stderr and "serving on" not in done.stdout


@pytest.mark.parametrize("which", ["--port", "--metrics-port"])
def test_a_port_in_use_exits_2_saying_so(built_collection, busy_port, which):
    flags = ["--port", "0", which, str(busy_port)]
    done = subprocess.run(serve_command(built_collection, *flags), capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert f"127.0.0.1:{busy_port}: address already in use" in done.stderr
    assert "Traceback" not in done.stderr and "serving on" not in done.stdout


@pytest.mark.parametrize("processes", ["1", "2"])
def test_sigterm_while_the_model_loads_exits_0_without_serving(built_collection, tmp_path,
                                                               processes):
    # An empty compilation cache makes loading take seconds, so the signal lands during it.
    environ = {**os.environ, "LOOKALIKE_JAX_CACHE": str(tmp_path / "jax-cache")}
    process = subprocess.Popen(
        serve_command(built_collection, "--port", "0", "--processes", processes),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ)
    try:
        seen = []
        for line in process.stderr:  # type: ignore[union-attr]
            seen.append(line)
            # A worker's own line, with two: the parent's says so before any worker loads.
            if "loading the model" in line and (processes == "1" or "[worker" in line):
                break
        assert seen and "loading the model" in seen[-1], "".join(seen)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # Before: the signal waited for the load, then "lookalike serving on ..." was printed.
    assert process.returncode == 0, err
    assert "serving on" not in out
    assert "Traceback" not in err
    assert "stopping before the model finished loading" in err
    assert "loading stopped" in err and "the collection is closed" in err
    if processes == "2":
        assert "stopping before every worker was ready" in err
