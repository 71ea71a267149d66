"""`lookalike ui` and `lookalike serve --ui` through the real entry point."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys

import httpx2

from tests.ui.conftest import start_serve, stop

NO_WEB = ("import sys; sys.modules['starlette'] = None; "
          "from lookalike.app.cli import main; sys.exit(main(sys.argv[1:]))")


def csrf_of(page: str) -> str:
    return page.split('name="csrf-token" content="')[1].split('"')[0]


def test_ui_prints_its_address_and_passes_the_token_from_the_environment(stack, sdk):
    process = subprocess.Popen(
        [sys.executable, "-m", "lookalike.app.cli", "ui", "--target", stack.target,
         "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "LOOKALIKE_TOKEN": stack.token})
    try:
        line = process.stdout.readline()
        assert line.startswith("lookalike ui on http://127.0.0.1:"), line
        assert f"(server {stack.target})" in line
        url = line.split()[3]
        with httpx2.Client(base_url=url) as http:
            page = http.get("/")
            one = sdk.browse(page_size=1).items[0].id
            done = http.post("/api/update", json={"ids": [one], "add_labels": ["via-cli"]},
                             headers={"x-csrf-token": csrf_of(page.text)})
            assert done.status_code == 200, done.text
            assert stack.token not in page.text + done.text
        assert "via-cli" in sdk.get([one])[0][0].labels
        sdk.update(ids=[one], remove_labels=["via-cli"])
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_without_the_ui_extra_the_error_says_what_to_install(stack):
    for args in (["ui", "--target", stack.target, "--port", "0"],
                 ["serve", str(stack.collection), "--port", "0", "--ui", "0"]):
        done = subprocess.run([sys.executable, "-c", NO_WEB, *args], capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 1, done.stderr
        assert "pip install 'lookalike[ui]'" in done.stderr
        assert "Traceback" not in done.stderr


def test_a_busy_ui_port_fails_before_the_server_loads(stack):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "lookalike.app.cli", "serve",
                               str(stack.collection), "--port", "0", "--ui", str(busy)],
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "Address already in use" in done.stderr and "Traceback" not in done.stderr


def test_serve_processes_with_ui_is_a_client_of_the_group_port(ui_collection, tmp_path):
    collection = shutil.copytree(ui_collection[0], tmp_path / "copy")  # the stack has it open
    process, said = start_serve(collection, "--processes", "2", "--ui", "0")
    try:
        with httpx2.Client(base_url=said["ui"], timeout=60) as http:
            info = http.get("/api/info").json()
            assert info["target"].endswith(said["serving"].rsplit(":", 1)[1])
            assert info["count"] == 40 and info["health"] == "SERVING"
            page = http.get("/")
            found = http.post("/api/search", json={"id": "1", "k": 3},
                              headers={"x-csrf-token": csrf_of(page.text)})
            assert found.status_code == 200 and len(found.json()["neighbors"]) == 3
    finally:
        stop(process)
