"""Text that cannot be encoded as UTF-8 (a lone surrogate) entering the SDK or the CLI.

Wherever an id or a path comes in, it is refused with a lookalike error that names it,
before anything is sent: never a UnicodeEncodeError from protobuf. The property runs any
text, surrogates included, through both clients against the hostile server's defaults (a
well-behaved server), so it tests the SDK alone and runs fast.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lookalike.app.cli import main
from lookalike.clients import Added, AsyncClient, Client, Equals, Filter
from lookalike.clients.retry import NO_RETRY
from lookalike.common.errors import InvalidArgument, LookalikeError

from ..clients.conftest import Caller
from .hostile_server import HostileServer, Script, add_answers

LONE = "\ud800"  # a high surrogate with no low one: no UTF-8 spelling exists
REFUSED = "is not valid UTF-8 text (surrogates not allowed at character"


@pytest.fixture(scope="module")
def callers() -> Iterator[list[Caller]]:
    """A Client and an AsyncClient, both connected to one well-behaved HostileServer."""
    server = HostileServer(Script())
    made = [Caller(kind, server.target, retry=NO_RETRY, timeout=10)
            for kind in (Client, AsyncClient)]
    yield made
    for caller in made:
        caller.close()
    server.stop()


@pytest.mark.parametrize("kind", [0, 1], ids=["Client", "AsyncClient"])
def test_an_id_with_a_lone_surrogate_is_refused_everywhere_naming_it(callers, kind):
    client = callers[kind]
    added = client("add", [b"a", b"b", b"c"], ids=["fine", "bad" + LONE, "also-fine"])
    assert [type(a) for a in added] == [Added, InvalidArgument, Added]
    assert f"the id of image 1 'bad\\ud800' {REFUSED} 3)" in str(added[1])
    with pytest.raises(InvalidArgument, match="the id '\\\\ud800' is not valid UTF-8"):
        client("search", id=LONE)
    with pytest.raises(InvalidArgument, match="id 1 of the delete '\\\\ud800' is not valid"):
        client("delete", ["fine", LONE])


@pytest.mark.parametrize("kind", [0, 1], ids=["Client", "AsyncClient"])
def test_a_path_with_a_lone_surrogate_is_that_images_error(callers, kind):
    client = callers[kind]
    given_path = client("add", [b"a", b"b"], paths=["ok.png", LONE])
    as_image = client("add", [LONE + ".png"])
    assert isinstance(given_path[0], Added) and isinstance(given_path[1], InvalidArgument)
    assert f"the path of image 1 '\\ud800' {REFUSED} 0)" in str(given_path[1])
    assert isinstance(as_image[0], InvalidArgument) and "the path of image 0" in str(
        as_image[0])


@pytest.mark.parametrize("kind", [0, 1], ids=["Client", "AsyncClient"])
def test_a_non_utf8_file_name_is_stored_as_a_file_uri(callers, kind, tmp_path):
    """A Linux file name that is not UTF-8 reads as surrogate escapes: a real file, whose
    path travels as file://...%FF (common/paths.stored_path), as the CLI sends it."""
    name = os.fsdecode(bytes(tmp_path) + b"/caf\xe9.png")
    Path(name).write_bytes(b"image bytes")
    sent = []
    server = HostileServer(Script(add=lambda requests: sent.extend(requests) or add_answers(
        requests)))
    caller = Caller((Client, AsyncClient)[kind], server.target, retry=NO_RETRY,
                    downsize=False)
    try:
        (added,) = caller("add", [name])
    finally:
        caller.close()
        server.stop()
    assert isinstance(added, Added) and sent[0].path.endswith("/caf%E9.png")
    assert sent[0].path.startswith("file://")


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.characters(codec=None), max_size=12))
@example(LONE)
@example("ok" + LONE + "\udfff")  # a pair as two code points: still no UTF-8
def test_any_text_id_is_accepted_or_refused_with_a_lookalike_error(callers, id):
    for client in callers:
        (added,) = client("add", [b"image"], ids=[id])
        assert isinstance(added, Added | LookalikeError)
        for call, args in (("search", {"id": id}), ("delete", {"ids": [id]})):
            try:
                client(call, **args)
            except LookalikeError:
                pass  # refused, in our words: fine. Anything else fails the test.
        try:
            id.encode("utf-8")
        except UnicodeEncodeError:
            assert isinstance(added, InvalidArgument)


def test_the_cli_refuses_a_manifest_rows_lone_surrogate_id_and_goes_on(tmp_path, capsys):
    image = tmp_path / "a.png"
    image.write_bytes(b"image bytes")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"path": str(image), "id": LONE}) + "\n"
                        + json.dumps({"path": str(image), "id": "fine"}) + "\n")
    assert "\\ud800" in manifest.read_text()  # JSON spells the lone surrogate as an escape
    with HostileServer(Script()) as server:
        code = main(["add", str(manifest), "--target", server.target, "--no-downsize"])
        calls = list(server.script.calls)
    captured = capsys.readouterr()
    assert code == 1 and "Traceback" not in captured.err
    assert "added 1 images, 1 refused" in captured.out
    assert f"not added {image}: the id '\\ud800' {REFUSED} 0)" in captured.err
    assert calls.count("Add") == 1


@pytest.mark.parametrize("command", [["delete", "\udcff"], ["search", "--id", "\udcff"]])
def test_the_cli_refuses_an_id_argument_that_is_not_utf8(command, capsys):
    """A command-line argument that is not UTF-8 arrives as surrogate escapes."""
    with HostileServer(Script()) as server:
        code = main([*command, "--target", server.target])
        calls = [c for c in server.script.calls if c != "Info"]
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and calls == []
    assert f"'\\udcff' {REFUSED} 0)" in err


@pytest.mark.parametrize("kind", [0, 1], ids=["Client", "AsyncClient"])
@pytest.mark.parametrize(("call", "args", "kwargs", "words"), [
    ("get", (["ok", LONE],), {}, "id 1 of the get"),
    ("update", (), {"ids": [LONE], "add_labels": ["x"]}, "id 0 of the update"),
    ("update", (), {"ids": ["a"], "add_labels": [LONE]}, "add_labels[0]"),
    ("update", (), {"ids": ["a"], "set_attributes": {"k": LONE}}, "value"),
    ("update", (), {"ids": ["a"], "clear_attributes": [LONE]}, "clear_attributes[0]"),
    ("count", (Filter(none_labels=[LONE]),), {}, "filter.none_of[0]"),
    ("count", (Filter(attributes=[Equals("k", LONE)]),), {}, "equals"),
    ("count", (Filter(path_prefix=LONE),), {}, "filter.path_prefix"),
    ("browse", (), {"page_token": LONE}, "page_token"),
    ("name_cluster", (1, LONE), {}, "cluster name"),
    ("search", (), {"id": "a", "filter": Filter(any_labels=[LONE])}, "filter.any_of[0]"),
], ids=["get-id", "update-id", "label", "attr-value", "clear-key", "filter-label",
        "filter-equals", "path-prefix", "page-token", "cluster-name", "search-filter"])
def test_a_lone_surrogate_in_label_calls_is_refused_before_sending(callers, kind, call, args,
                                                                   kwargs, words):
    with pytest.raises(InvalidArgument) as info:
        callers[kind](call, *args, **kwargs)
    assert words in str(info.value)
    assert "UTF-8" in str(info.value) or "A-Z a-z" in str(info.value)  # a key's own rule


@pytest.mark.parametrize("kind", [0, 1], ids=["Client", "AsyncClient"])
def test_a_lone_surrogate_label_on_add_is_that_images_error(callers, kind):
    added = callers[kind]("add", [b"a", b"b"], ids=["x", "y"], labels=[["ok"], [LONE]],
                          attributes=[{"k": 1}, None])
    assert isinstance(added[0], Added) and isinstance(added[1], InvalidArgument)
    assert "image 1: labels[0]" in str(added[1]) and "UTF-8" in str(added[1])
