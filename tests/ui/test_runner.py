"""The app on uvicorn as `lookalike ui` runs it: a search waiting on a slow image URL holds
up nothing else."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2

from lookalike.clients.channel import make_config
from lookalike.ui.config import UiConfig
from lookalike.ui.runner import WebApp


def test_a_slow_search_does_not_block_other_requests(stack):
    release, asked = threading.Event(), threading.Event()
    image = sorted(stack.images.glob("*.png"))[0].read_bytes()

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            asked.set()
            release.wait(60)
            self.send_response(200)
            self.send_header("Content-Length", str(len(image)))
            self.end_headers()
            self.wfile.write(image)

        def log_message(self, *args):
            pass

    app = WebApp(UiConfig(stack.target, make_config(token=stack.token), port=0,
                          fetch_private=True)).start()
    with ThreadingHTTPServer(("127.0.0.1", 0), Slow) as slow:
        threading.Thread(target=slow.serve_forever, daemon=True).start()
        try:
            with httpx2.Client(base_url=app.url, timeout=60) as http:
                csrf = http.get("/").text.split('csrf-token" content="')[1].split('"')[0]
                answers = {}

                def search():
                    answers["search"] = http.post(
                        "/api/search", headers={"x-csrf-token": csrf},
                        json={"url": f"http://127.0.0.1:{slow.server_port}/q.png", "k": 2})

                searching = threading.Thread(target=search)
                searching.start()
                assert asked.wait(30)  # the search is now waiting on the slow server
                for path in ("/api/info", "/api/clusters/0", "/thumb/1"):
                    assert http.get(path, timeout=10).status_code == 200, path
                assert "search" not in answers
                release.set()
                searching.join(60)
            assert answers["search"].status_code == 200
            assert answers["search"].json()["neighbors"][0]["distance"] < 1e-4
        finally:
            release.set()
            slow.shutdown()
            app.stop()
