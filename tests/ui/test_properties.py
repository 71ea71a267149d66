"""Hypothesis through the web app's routes: any label, id or filter a page could send gets a
JSON answer (the change made, or a 4xx saying why), never a 500 or a traceback."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lookalike.common.errors import InvalidArgument
from lookalike.common.labels import check_label

PROPS = settings(max_examples=40, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])
texts = st.text(max_size=80)
labelish = st.one_of(texts, st.sampled_from(["<img src=x onerror=alert(1)>", " a ", "",
                                             "x" * 64, "x" * 65, "a\x00b", "é", "🙂"]))
# What a page can send: JSON has no NaN or infinities.
numbers = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | numbers | texts,
                           lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(texts, inner, max_size=3), max_leaves=8)


def test_a_nan_bound_in_raw_json_is_refused(web):
    body = b'{"filter": {"attributes": [{"key": "p", "min": NaN}]}}'
    answer = web.post("/api/ids", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400 and "NaN" in answer.json()["error"]


def _clear(answer) -> None:
    assert answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    if answer.status_code >= 400:
        assert answer.json()["error"] and "Traceback" not in answer.text


@PROPS
@given(label=labelish)
def test_any_label_is_stored_as_given_or_refused_with_the_reason(web, sdk, label):
    target = sdk.browse(page_size=1).items[0].id
    answer = web.post("/api/update", json={"ids": [target], "add_labels": [label]})
    _clear(answer)
    try:
        stored = check_label(label)
    except InvalidArgument:
        assert answer.status_code == 400
        return
    assert answer.status_code == 200
    assert stored in sdk.get([target])[0][0].labels
    page = web.post("/api/browse", json={"filter": {"any_labels": [label]}, "size": 5})
    assert target in [i["id"] for i in page.json()["items"]]
    assert web.post("/api/undo").status_code == 200
    assert stored not in sdk.get([target])[0][0].labels


@PROPS
@given(id=texts)
def test_any_id_searches_or_is_a_clear_error(web, id):
    answer = web.post("/api/search", json={"id": id, "k": 2})
    _clear(answer)
    assert answer.status_code in (200, 400, 404)


@PROPS
@given(ids=st.lists(texts, max_size=5), label=st.sampled_from(["p", "q"]))
def test_any_id_list_updates_what_is_stored_and_names_the_rest(web, sdk, ids, label):
    answer = web.post("/api/update", json={"ids": ids, "remove_labels": [label]})
    _clear(answer)
    if answer.status_code == 200:
        assert set(answer.json()["missing"]) <= set(ids)


@PROPS
@given(spec=json_values)
def test_any_filter_shape_is_used_or_refused(web, spec):
    for path, body in (("/api/browse", {"filter": spec, "size": 3}),
                       ("/api/search", {"id": "1", "k": 2, "filter": spec})):
        _clear(web.post(path, json=body))


@PROPS
@given(any_labels=st.lists(labelish, max_size=3), none_labels=st.lists(labelish, max_size=3),
       clusters=st.one_of(st.none(), st.lists(st.integers(-2, 6), max_size=3)),
       attributes=st.lists(st.fixed_dictionaries(
           {"key": texts}, optional={"equals": st.one_of(texts, numbers),
                                     "min": numbers, "max": numbers,
                                     "exists": st.booleans()}), max_size=2))
def test_filters_match_what_the_sdk_counts(web, sdk, any_labels, none_labels, clusters,
                                           attributes):
    body = {"filter": {"any_labels": any_labels, "none_labels": none_labels,
                       "clusters": clusters, "attributes": attributes}}
    answer = web.post("/api/ids", json=body)
    _clear(answer)
    if answer.status_code == 200:
        from lookalike.ui.parse import filter_of

        assert len(answer.json()["ids"]) == sdk.count(filter_of(body["filter"]))
