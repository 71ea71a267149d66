"""Bulk runs that crash: the client killed with -9, the server lost, then --resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lookalike.app.cli import main
from lookalike.clients.bulk_output import read_rows
from tests.clients.conftest import wait_for_lines

REPEAT = 20  # 48 images x 20 = 960 rows: long enough to be caught mid-run


@pytest.fixture(scope="module")
def long_manifest(image_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("long") / "manifest.txt"
    images = [str(p) for p in sorted(image_folder.iterdir())]
    path.write_text("\n".join(images * REPEAT) + "\n")
    return path


def bulk_process(target: str, manifest: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lookalike.app.cli", "bulk", str(manifest), "--target",
         target, "--out", str(out), "-k", "3", "-q", "--window", "2", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def assert_complete_once(out: Path, total: int) -> list[dict]:
    rows = read_rows(out)
    assert [r["row"] for r in rows] == list(range(total))  # each once, in order, none torn
    assert out.read_bytes().endswith(b"\n")
    return rows


def test_kill_9_then_resume_finishes_without_duplicates(shared_target, long_manifest,
                                                        tmp_path):
    out = tmp_path / "out.jsonl"
    process = bulk_process(shared_target, long_manifest, out)
    wait_for_lines(out, 50)
    assert process.poll() is None, "the run finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    written = len(read_rows(out))
    assert 50 <= written < 48 * REPEAT
    assert main(["bulk", str(long_manifest), "--target", shared_target, "--out", str(out),
                 "-k", "3", "-q", "--resume"]) == 0
    rows = assert_complete_once(out, 48 * REPEAT)
    assert all(r["error"] is None for r in rows)
    # The same image, the same neighbours.
    assert [n["id"] for n in rows[0]["neighbors"]] == [n["id"] for n in rows[48]["neighbors"]]


def test_server_lost_stops_cleanly_and_resume_continues(server_process, long_manifest,
                                                        tmp_path, capsys):
    server = server_process()
    out = tmp_path / "out.jsonl"
    process = bulk_process(server.target, long_manifest, out, "--retries", "2")
    wait_for_lines(out, 50)
    server.kill()
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert f"the server at {server.target} is unavailable" in err
    assert "run again with --resume to continue" in err
    rows = read_rows(out)  # whatever was written is whole, in order and unique
    assert [r["row"] for r in rows] == list(range(len(rows))) and len(rows) < 48 * REPEAT
    assert all(r["error"] is None for r in rows)

    again = server_process(port=server.port)
    assert main(["bulk", str(long_manifest), "--target", again.target, "--out", str(out),
                 "-k", "3", "-q", "--resume"]) == 0
    assert f"({len(rows)} rows were already done)" in capsys.readouterr().out
    assert all(r["error"] is None for r in assert_complete_once(out, 48 * REPEAT))


def test_server_restarted_mid_run_is_retried_without_row_errors(server_process,
                                                                long_manifest, tmp_path):
    server = server_process()
    out = tmp_path / "out.jsonl"
    process = bulk_process(server.target, long_manifest, out, "--retries", "40")
    wait_for_lines(out, 50)
    server.kill()
    server_process(port=server.port)
    stdout, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert f"{48 * REPEAT} rows, 0 errors" in stdout
    assert all(r["error"] is None for r in assert_complete_once(out, 48 * REPEAT))
