"""Every route of the web app against a real `lookalike serve` (tokens required): answers,
bad input, and the errors the page shows."""

from __future__ import annotations

import base64
import csv
import io
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import httpx2
import pytest

from lookalike.clients import Filter
from lookalike.clients.label_files import export_labels


def data_url(path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def some_ids(sdk, n: int = 6) -> list[str]:
    return [item.id for item in sdk.browse(page_size=n).items]


def test_the_page_carries_the_csrf_token_and_keeps_scripts_inert(web, stack):
    page = web.get("/")
    assert page.status_code == 200
    assert f'content="{web.app.state.csrf}"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert stack.token not in page.text
    for name in ("main.js", "api.js", "tiles.js", "search.js", "clusters.js", "map.js",
                 "style.css"):
        script = web.get(f"/static/{name}")
        assert script.status_code == 200, name
        assert "innerHTML" not in script.text and "insertAdjacentHTML" not in script.text


def test_info_describes_the_collection(web, sdk):
    info = web.get("/api/info").json()
    truth = sdk.info()
    assert (info["count"], info["clusters"]) == (truth.count, truth.clusters)
    assert info["model_fingerprint"] == truth.model_fingerprint
    assert info["store"] == "local" and info["health"] == "SERVING"
    assert info["cluster_sizes"] == truth.cluster_sizes


def test_search_by_id_excludes_itself_and_a_filter_narrows_it(web, sdk):
    first = some_ids(sdk, 1)[0]
    found = web.post("/api/search", json={"id": first, "k": 5}).json()
    assert len(found["neighbors"]) == 5 and first not in [n["id"] for n in found["neighbors"]]
    truth = sdk.search(id=first, k=5)
    assert [n["id"] for n in found["neighbors"]] == [n.id for n in truth.neighbors]
    cluster = found["cluster"]
    narrowed = web.post("/api/search", json={"id": first, "k": 40,
                                             "filter": {"clusters": [cluster]}}).json()
    assert {n["cluster"] for n in narrowed["neighbors"]} == {cluster}


def test_search_by_upload_finds_the_stored_copy_first(web, stack, sdk):
    image = sorted(stack.images.glob("*.png"))[0]
    found = web.post("/api/search", json={"image": data_url(image), "k": 3})
    assert found.status_code == 200, found.text
    nearest = found.json()["neighbors"][0]
    assert nearest["path"] == str(image) and nearest["distance"] == pytest.approx(0, abs=1e-4)


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"image": base64.b64encode(b"not an image at all").decode()}, 400, "image"),
    ({"image": "%%% not base64"}, 400, "base64"),
    ({"id": "no-such-id"}, 404, "no-such-id"),
    ({"id": "1", "image": "AAAA"}, 400, "exactly one"),
    ({}, 400, "exactly one"),
    ({"id": "1", "k": 0}, 400, "k must be"),
    ({"id": "1", "k": "ten"}, 400, "k must be"),
    ({"id": "1", "filter": {"any_labels": "x", "bogus": 1}}, 400, "unknown fields"),
    ({"id": "1", "filter": {"all_labels": ["a"], "none_labels": ["a"]}}, 400, "nothing"),
    ({"id": "1", "filter": {"attributes": [{"key": "p", "min": 5, "max": 1}]}}, 400, "empty"),
    ({"url": "file:///etc/passwd"}, 400, "http"),
    ({"url": "/etc/passwd"}, 400, "http"),
])
def test_bad_searches_are_clear_json_errors(web, body, status, words):
    answer = web.post("/api/search", json=body)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]
    assert "Traceback" not in answer.text


def test_an_upload_over_the_cap_is_413_before_it_is_read(make_web, stack):
    web = make_web(max_upload_bytes=50_000)
    big = base64.b64encode(b"\x89PNG" + bytes(80_000)).decode()
    answer = web.post("/api/search", json={"image": big})
    assert answer.status_code == 413
    assert "at most 50,000 bytes" in answer.json()["error"]
    raw = web.post("/api/search", content=b"{" + b" " * 2_000_000,
                   headers={"content-type": "application/json"})
    assert raw.status_code == 413 and "at most" in raw.json()["error"]


def test_bad_json_is_400(web):
    answer = web.post("/api/search", content=b"{nope", headers={"content-type":
                                                                 "application/json"})
    assert answer.status_code == 400 and "not valid JSON" in answer.json()["error"]
    assert web.post("/api/update", json=[1, 2]).status_code == 400


def test_search_by_url_refuses_private_addresses_unless_told(make_web, stack):
    handler = partial(SimpleHTTPRequestHandler, directory=str(stack.images))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as http:
        threading.Thread(target=http.serve_forever, daemon=True).start()
        image = sorted(stack.images.glob("*.jpg"))[0]
        url = f"http://127.0.0.1:{http.server_port}/{image.name}"
        refused = make_web().post("/api/search", json={"url": url})
        assert refused.status_code == 400 and "127.0.0.1" in refused.json()["error"]
        found = make_web(fetch_private=True).post("/api/search", json={"url": url, "k": 2})
        http.shutdown()
    assert found.status_code == 200, found.text
    assert found.json()["neighbors"][0]["path"] == str(image)


def test_a_cluster_pages_through_all_its_members(web, sdk):
    sizes = sdk.info().cluster_sizes
    cluster = max(range(len(sizes)), key=sizes.__getitem__)
    seen, token = [], ""
    while True:
        page = web.get(f"/api/clusters/{cluster}", params={"size": 4, "token": token}).json()
        assert len(page["items"]) <= 4
        seen += [i["id"] for i in page["items"]]
        assert {i["cluster"] for i in page["items"]} <= {cluster}
        token = page["next"]
        if not token:
            break
    assert len(seen) == len(set(seen)) == sizes[cluster]
    assert web.get("/api/clusters/abc").status_code == 400
    assert web.get(f"/api/clusters/{cluster}", params={"size": 0}).status_code == 400
    assert web.get(f"/api/clusters/{cluster}", params={"token": "garbage"}).status_code == 400


def test_label_ids_then_undo_restores_exactly(web, sdk):
    ids = some_ids(sdk, 4)
    sdk.update(ids=ids[:1], add_labels=["keep-me"])  # already has it: undo must leave it
    done = web.post("/api/update", json={"ids": ids, "add_labels": ["keep-me", "fresh"]})
    assert done.status_code == 200, done.text
    assert done.json()["updated"] == 4 and "fresh" in done.json()["undo"]
    items, _ = sdk.get(ids)
    assert all({"keep-me", "fresh"} <= set(i.labels) for i in items)
    undone = web.post("/api/undo")
    assert undone.status_code == 200, undone.text
    after = {i.id: set(i.labels) for i in sdk.get(ids)[0]}
    assert after[ids[0]] >= {"keep-me"} and not any("fresh" in v for v in after.values())
    assert not any("keep-me" in after[i] for i in ids[1:])
    sdk.update(ids=ids, remove_labels=["keep-me"])


def test_label_a_cluster_then_undo(web, sdk):
    done = web.post("/api/update", json={"cluster": 2, "add_labels": ["whole-cluster"]})
    assert done.status_code == 200, done.text
    size = sdk.info().cluster_sizes[2]
    assert sdk.count(Filter(any_labels=["whole-cluster"])) == size == done.json()["updated"]
    assert web.post("/api/undo").status_code == 200
    assert sdk.count(Filter(any_labels=["whole-cluster"])) == 0


def test_remove_then_undo_puts_labels_back(web, sdk):
    ids = some_ids(sdk, 3)
    sdk.update(ids=ids[:2], add_labels=["was-there"])
    assert web.post("/api/update", json={"ids": ids, "remove_labels": ["was-there"]}
                    ).status_code == 200
    assert sdk.count(Filter(any_labels=["was-there"])) == 0
    assert web.post("/api/undo").status_code == 200
    assert {i.id for i in sdk.browse(Filter(any_labels=["was-there"])).items} == set(ids[:2])
    sdk.update(ids=ids, remove_labels=["was-there"])


@pytest.mark.parametrize(("body", "words"), [
    ({"ids": ["1"]}, "labels to add"),
    ({"add_labels": ["x"]}, "exactly one of ids or cluster"),
    ({"ids": ["1"], "cluster": 1, "add_labels": ["x"]}, "exactly one"),
    ({"ids": [], "add_labels": ["x"]}, "select some"),
    ({"ids": "1", "add_labels": [""]}, "label"),
    ({"ids": ["1"], "add_labels": ["x" * 65]}, "64"),
    ({"ids": [1, 2], "add_labels": ["x"]}, "list of text"),
    ({"cluster": -1, "add_labels": ["x"]}, "cluster"),
])
def test_bad_updates_are_400(web, body, words):
    answer = web.post("/api/update", json=body)
    assert answer.status_code == 400, answer.text
    assert words in answer.json()["error"]


def test_undo_with_nothing_to_undo_is_409(make_web):
    answer = make_web().post("/api/undo")
    assert answer.status_code == 409 and answer.json()["error"] == "nothing to undo"


def test_update_reports_ids_no_longer_stored(web, sdk):
    ids = some_ids(sdk, 1) + ["gone-id"]
    done = web.post("/api/update", json={"ids": ids, "add_labels": ["partly"]}).json()
    assert done["missing"] == ["gone-id"]
    sdk.update(ids=ids[:1], remove_labels=["partly"])


def test_rename_a_cluster(web, sdk):
    answer = web.post("/api/clusters/1/name", json={"name": "  shapes  "})
    assert answer.status_code == 200 and answer.json()["name"] == "shapes"
    assert sdk.info().cluster_names[1] == "shapes"
    assert web.get("/api/info").json()["cluster_names"]["1"] == "shapes"
    assert web.post("/api/clusters/1/name", json={"name": 5}).status_code == 400
    assert web.post("/api/clusters/1/name", json={"name": "x" * 65}).status_code == 400
    web.post("/api/clusters/1/name", json={"name": ""})
    assert 1 not in sdk.info().cluster_names


def test_export_csv_is_what_labels_export_writes(web, sdk, tmp_path):
    ids = some_ids(sdk, 2)
    sdk.update(ids=ids, add_labels=["exported"], set_attributes={"score": 0.5})
    answer = web.get("/api/export.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    export_labels(sdk, tmp_path / "cli.csv")
    assert answer.text == (tmp_path / "cli.csv").read_text()
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == sdk.count()
    assert {r["id"] for r in rows if "exported" in r["labels"]} == set(ids)
    sdk.update(ids=ids, remove_labels=["exported"], clear_attributes=["score"])


def test_ids_of_a_filter(web, sdk):
    ids = some_ids(sdk, 3)
    sdk.update(ids=ids, add_labels=["listed"])
    found = web.post("/api/ids", json={"filter": {"any_labels": ["listed"]}}).json()
    assert sorted(found["ids"]) == sorted(ids)
    sdk.update(ids=ids, remove_labels=["listed"])
    page = web.post("/api/browse", json={"size": 5}).json()
    assert len(page["items"]) == 5 and page["next"]


def test_server_down_is_a_503_json_error(make_web):
    from lookalike.clients import RetryPolicy
    from lookalike.clients.channel import make_config

    web = make_web(target="127.0.0.1:1", client=make_config(retry=RetryPolicy(attempts=1),
                                                             timeout=5))
    answer = web.get("/api/info")
    assert answer.status_code == 503
    assert "unavailable" in answer.json()["error"] and "Traceback" not in answer.text


def test_without_the_token_the_server_refusal_is_explained(make_web):
    from lookalike.clients.channel import make_config

    answer = make_web(client=make_config()).post("/api/update", json={
        "ids": ["1"], "add_labels": ["x"]})
    assert answer.status_code == 502
    assert "--token" in answer.json()["error"]


def test_the_token_never_reaches_the_browser(stack, sdk):
    """Through the app `serve --ui` started: pages, scripts and answers."""
    with httpx2.Client(base_url=stack.url) as http:
        page = http.get("/")
        csrf = page.text.split('name="csrf-token" content="')[1].split('"')[0]
        answers = [page, http.get("/api/info"), http.get("/api/export.csv"),
                   http.get("/api/clusters/0"),
                   http.post("/api/search", json={"id": some_ids(sdk, 1)[0]},
                             headers={"x-csrf-token": csrf})]
        answers += [http.get(f"/static/{n}") for n in ("main.js", "api.js", "tiles.js")]
    for answer in answers:
        assert answer.status_code == 200, answer.url
        assert stack.token not in answer.text and stack.token not in str(answer.headers)
