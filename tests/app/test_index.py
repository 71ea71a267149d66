"""`lookalike add` and `delete` against a real server on loopback."""

import pytest

from benchmarks.testbed import blob_vectors, make_collection, make_images
from lookalike.app.cli import main
from lookalike.clients.client import Client


@pytest.fixture
def target(tmp_path, model_dir):
    from lookalike.server.config import ServerConfig
    from lookalike.server.grpc_server import create_server

    make_collection(tmp_path / "c", model_dir, blob_vectors(n=50), k=2).close()
    running = create_server(tmp_path / "c", ServerConfig(port=0))
    try:
        yield f"127.0.0.1:{running.port}"
    finally:
        running.stop(grace_s=1)


def count(target):
    with Client(target) as client:
        return client.info().count


def test_add_a_folder_with_ids_then_delete(target, tmp_path, capsys):
    make_images(tmp_path / "new", count=3, size=32)
    assert main(["add", str(tmp_path / "new"), "--target", target,
                 "--ids", "a", "b", "c"]) == 0
    assert "added 3 images, 0 refused" in capsys.readouterr().out
    assert count(target) == 53
    with Client(target) as client:
        assert client.search(id="a", k=3).neighbors  # stored, searchable by its id
    assert main(["delete", "a", "b", "zzz", "--target", target]) == 1
    assert "deleted 2 images; not found: zzz" in capsys.readouterr().out
    assert count(target) == 51


def test_add_takes_ids_from_the_manifest_and_reports_bad_rows(target, tmp_path, capsys):
    paths = make_images(tmp_path / "m", count=2, size=32)
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path,id\n{paths[0]},first\nmissing.png,second\n{paths[1]},third\n")
    assert main(["add", str(manifest), "--target", target]) == 1
    captured = capsys.readouterr()
    assert "added 2 images, 1 refused" in captured.out
    assert "not added missing.png: no such file" in captured.err
    with Client(target) as client:
        assert {n.id for n in client.search(id="first", k=60).neighbors} >= {"third"}


def test_add_refuses_a_taken_id_per_image(target, tmp_path, capsys):
    make_images(tmp_path / "d", count=2, size=32)
    assert main(["add", str(tmp_path / "d"), "--target", target, "--ids", "x", "1"]) == 1
    captured = capsys.readouterr()
    assert "added 1 images, 1 refused" in captured.out
    assert "id '1' is already in the collection" in captured.err


def test_add_with_the_wrong_number_of_ids(target, tmp_path, capsys):
    make_images(tmp_path / "w", count=3, size=32)
    assert main(["add", str(tmp_path / "w"), "--target", target, "--ids", "a", "b"]) == 1
    assert "--ids gives 2 ids for 3 images; give one per image" in capsys.readouterr().err


def test_add_reports_hostile_manifest_rows_and_goes_on(target, tmp_path, capsys):
    (path,) = make_images(tmp_path / "h", count=1, size=32)
    manifest = tmp_path / "m.txt"
    manifest.write_bytes(str(path).encode() + b"\nmissing\xff.png\nhttp://[::1/x.png\n"
                         + b"y" * 200_000 + b"\n")
    assert main(["add", str(manifest), "--target", target]) == 1
    captured = capsys.readouterr()
    assert "added 1 images, 3 refused" in captured.out
    assert "not added missing\\udcff.png: no such file" in captured.err
    assert "http://[::1/x.png: not a valid URL (Invalid IPv6 URL)" in captured.err


def test_add_keeps_link_paths_and_non_utf8_names(target, tmp_path, capsys):
    """Issue 13, defects 4 and 15: add died on a non-UTF-8 name, and stored each symlink
    with its target's path."""
    import os
    import shutil

    from lookalike.common.paths import local_path
    from lookalike.indexer.local.collection import Collection

    folder = tmp_path / "new"
    real = make_images(folder / "real", count=1, size=32)[0]
    os.symlink(real, folder / "link.jpg")
    odd = os.path.join(os.fsencode(folder), b"caf\xe9.jpg")
    shutil.copyfile(real, odd)
    assert main(["add", str(folder), "--target", target, "--ids", "odd", "link", "real"]) == 0
    assert "added 3 images, 0 refused" in capsys.readouterr().out
    with Collection.open(tmp_path / "c", read_only=True) as c:  # beside the running server
        found = {i: c.lookup(i)[0].path for i in ("odd", "link", "real")}
    assert os.fsencode(local_path(found["odd"])) == odd
    assert found["link"] == str(folder / "link.jpg") and found["real"] == str(real)


def test_add_takes_one_image_file(target, tmp_path, capsys):
    [photo] = make_images(tmp_path / "one", count=1, size=32)
    assert main(["add", str(photo), "--target", target]) == 0
    assert "added 1 images, 0 refused" in capsys.readouterr().out
    assert count(target) == 51


def test_add_takes_several_images_with_their_ids(target, tmp_path, capsys):
    a, png = make_images(tmp_path / "two", count=2, size=32)  # a .jpg and a .png
    assert main(["add", str(a), str(png), "--target", target, "--ids", "a", "b"]) == 0
    assert "added 2 images, 0 refused" in capsys.readouterr().out
    with Client(target) as client:
        found = {n.id: n.path for n in client.search(id="a", k=60).neighbors}
    assert found["b"] == str(png)
    assert main(["add", str(a), str(png), "--target", target, "--ids", "c"]) == 1
    assert "--ids gives 1 ids for 2 images" in capsys.readouterr().err
