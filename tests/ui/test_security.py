"""Safe by default: cross-site POSTs refused (CSRF token, Origin, Sec-Fetch-Site), a
foreign Host refused (DNS rebinding), loopback unless told."""

from __future__ import annotations

import pytest

from lookalike.ui.security import host_names, refusal

CHANGE = {"ids": ["1"], "add_labels": ["csrf-probe"]}


@pytest.mark.parametrize("path", ["/api/update", "/api/undo", "/api/search",
                                  "/api/clusters/0/name", "/api/ids", "/api/browse"])
def test_a_post_without_the_csrf_token_is_403(web, sdk, path):
    answer = web.post(path, json=CHANGE, headers={"x-csrf-token": ""})
    assert answer.status_code == 403
    assert "x-csrf-token" in answer.json()["error"]
    wrong = web.post(path, json=CHANGE, headers={"x-csrf-token": "guess"})
    assert wrong.status_code == 403
    assert sdk.count(filter=_probe()) == 0


def _probe():
    from lookalike.clients import Filter

    return Filter(any_labels=["csrf-probe"])


@pytest.mark.parametrize("headers", [
    {"origin": "http://evil.example"},
    {"origin": "null"},
    {"origin": "http://testserver:1"},
    {"sec-fetch-site": "cross-site"},
    {"sec-fetch-site": "same-site"},
])
def test_a_cross_origin_post_is_403_even_with_the_token(web, sdk, headers):
    answer = web.post("/api/update", json=CHANGE, headers=headers)
    assert answer.status_code == 403, answer.text
    assert "cross" in answer.json()["error"]
    assert sdk.count(filter=_probe()) == 0


def test_a_same_origin_post_passes(web, sdk):
    answer = web.post("/api/update", json=CHANGE, headers={
        "origin": "http://testserver", "sec-fetch-site": "same-origin"})
    assert answer.status_code == 200, answer.text
    sdk.update(ids=["1"], remove_labels=["csrf-probe"])


def test_a_foreign_host_is_refused_even_for_reads(web):
    answer = web.get("/api/info", headers={"host": "rebound.evil.example"})
    assert answer.status_code == 403
    assert "--allow-host" in answer.json()["error"]
    assert web.get("/", headers={"host": "localhost:9"}).status_code == 200


def test_the_host_check_rules():
    hosts = host_names("127.0.0.1", ("lab.example",))
    assert host_names("0.0.0.0", ()) is None  # every interface: any name reaches it
    for host, ok in [("127.0.0.1:8080", True), ("localhost", True), ("[::1]:80", True),
                     ("LAB.example:1", True), ("evil.example", False), ("", False),
                     ("127.0.0.1.evil.example:80", False)]:
        why = refusal("GET", _headers(host=host), "http", "t", hosts)
        assert (why is None) == ok, host


def test_token_comparison_and_safe_methods():
    hosts = host_names("127.0.0.1", ())
    assert refusal("GET", _headers(host="localhost"), "http", "t", hosts) is None
    assert refusal("POST", _headers(host="localhost", **{"x-csrf-token": "t"}), "http", "t",
                   hosts) is None
    assert refusal("DELETE", _headers(host="localhost"), "http", "t", hosts) is not None


def _headers(**values):
    from starlette.datastructures import Headers

    return Headers({k.replace("_", "-"): v for k, v in values.items()})


def test_the_app_binds_loopback_unless_told():
    import argparse

    from lookalike.app.ui import ui_flags

    parser = argparse.ArgumentParser()
    ui_flags(parser)
    assert parser.parse_args([]).host == "127.0.0.1"
