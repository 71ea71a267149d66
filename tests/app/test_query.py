"""`lookalike search` and `info` through the real CLI entry point."""

from __future__ import annotations

import json
import os
import signal

import pytest
from PIL import Image

from lookalike.app.cli import main
from lookalike.clients import Client
from lookalike.common.errors import DeadlineExceeded


def test_search_prints_json_and_writes_a_plot(shared_target, image_folder, tmp_path, capsys):
    image, plot = sorted(image_folder.iterdir())[0], tmp_path / "out.png"
    assert main(["search", str(image), "--target", shared_target, "-k", "4", "--json",
                 "--plot", str(plot), "--plot-columns", "5"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["neighbors"][0]["path"] == str(image.resolve())
    assert len(answer["neighbors"]) == 4
    with Image.open(plot) as png:
        assert png.format == "PNG" and png.size == (5 * 190, 225)


def test_search_by_id_prints_a_table(shared_target, capsys):
    assert main(["search", "--id", "7", "--target", shared_target, "-k", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("query cluster ") and len(out) == 3 and out[1].startswith("  1.")


def test_search_needs_an_image_or_id(shared_target):
    with pytest.raises(SystemExit, match="give an IMAGE or --id"):
        main(["search", "--target", shared_target])


def test_search_errors_are_one_line_on_stderr(shared_target, capsys):
    assert main(["search", "--id", "ghost", "--target", shared_target]) == 1
    err = capsys.readouterr().err
    assert err == "lookalike search: no image with id 'ghost' in the collection\n"


def test_a_stream_to_a_frozen_server_ends_with_deadline_exceeded(server_process, image_folder):
    server = server_process()
    paths = [str(p) for p in sorted(image_folder.iterdir())] * 50
    with Client(server.target, timeout=1.0) as client:
        stream = client.search_many(paths, k=2, window=4)
        assert next(stream).neighbors
        os.kill(server.process.pid, signal.SIGSTOP)  # alive but silent, as when hung
        try:
            with pytest.raises(DeadlineExceeded, match=f"no answer from {server.target} for 1s"):
                for _ in stream:
                    pass
        finally:
            os.kill(server.process.pid, signal.SIGCONT)


def test_search_shows_an_exact_match_at_distance_0_and_json_keeps_the_float(monkeypatch,
                                                                            capsys):
    from lookalike.clients.results import Neighbor, SearchResult

    noise = SearchResult(3, [Neighbor("a", "/p/a.jpg", 1.632e-12, 3),
                             Neighbor("b", "/p/b.jpg", -3e-13, 3),
                             Neighbor("c", "/p/c.jpg", 0.123456, 1)])

    class Fake:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

        def search(self, *args, **kwargs):
            return noise

    monkeypatch.setattr("lookalike.app.query.connect", lambda args: Fake())
    assert main(["search", "q.jpg"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[2] for line in lines[1:]] == ["d=0", "d=0", "d=0.123"]
    assert "e-" not in "".join(lines)
    assert main(["search", "q.jpg", "--json"]) == 0
    distances = [n["distance"] for n in json.loads(capsys.readouterr().out)["neighbors"]]
    assert distances == [1.632e-12, -3e-13, 0.123456]


def test_every_distance_people_read_is_formatted_alike():
    from lookalike.present.plot import distance_text

    assert [distance_text(d) for d in (1.632e-12, -3e-13, 0.0, 0.5, 1.23456, 2e-4)] == [
        "0", "0", "0", "0.5", "1.23", "0.0002"]
