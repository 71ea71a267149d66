"""`lookalike build`, `train` and `embed` through the real CLI entry point."""

import numpy as np
import pytest

from lookalike.app.cli import main
from lookalike.indexer.local.collection import Collection


def test_train_then_embed_then_build_with_that_model(tmp_path, image_folder, capsys):
    model_dir = tmp_path / "model"
    assert main(["train", str(image_folder), "--out", str(model_dir), "--epochs", "1"]) == 0
    assert "trained on 48 images" in capsys.readouterr().out

    vectors_file = tmp_path / "vectors.npz"
    assert main(["embed", str(model_dir), str(image_folder), "--out", str(vectors_file)]) == 0
    saved = np.load(vectors_file, allow_pickle=False)
    assert saved["vectors"].shape[0] == len(saved["ids"]) == 48
    assert saved["ids"][0].endswith("img_000.jpg")

    out = tmp_path / "collection"
    assert main(["build", str(image_folder), "--out", str(out), "--model", str(model_dir),
                 "--clusters", "3"]) == 0
    collection = Collection.open(out)
    _, stored = collection.lookup("1")
    collection.close()
    # The collection was built with the given model: its vectors are the embed output.
    assert np.allclose(stored, saved["vectors"][0], atol=1e-5)


def test_build_refuses_to_overwrite_a_collection(built_collection, image_folder, capsys):
    assert main(["build", str(image_folder), "--out", str(built_collection)]) == 1
    assert "already holds a collection" in capsys.readouterr().err


def test_build_checks_the_output_before_reading_any_image(built_collection, tmp_path, capsys):
    # The images do not exist: only a check made before decoding can report the output.
    assert main(["build", str(tmp_path / "nope"), "--out", str(built_collection)]) == 1
    assert "already holds a collection" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["build", "{missing}", "--out", "{tmp}/c"], "no such folder, image or manifest"),
        (["build", "{empty}", "--out", "{tmp}/c"], "no readable images"),
        (["train", "{images}", "--out", "{tmp}/m", "--size", "50"], "--size 50"),
        (["embed", "{tmp}/no-model", "{images}", "--out", "{tmp}/v.npz"], "no model"),
    ],
)
def test_bad_input_is_a_clear_error_not_a_traceback(argv, message, tmp_path, image_folder,
                                                    capsys):
    (tmp_path / "empty").mkdir()
    names = {"missing": tmp_path / "nope", "empty": tmp_path / "empty", "tmp": tmp_path,
             "images": image_folder}
    assert main([a.format(**names) for a in argv]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("bad", ["0", "-3", "many"])
def test_bad_cluster_counts_are_refused_by_the_parser(bad, capsys):
    with pytest.raises(SystemExit) as info:
        main(["build", "x", "--out", "y", "--clusters", bad])
    assert info.value.code == 2
    assert "--clusters" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["build", "x", "--out", "y"], ["train", "x", "--out", "y"],
                                     ["embed", "m", "x", "--out", "y"]])
@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5"])
def test_bad_worker_counts_are_refused_by_the_parser(command, bad, capsys):
    with pytest.raises(SystemExit) as info:
        main([*command, "--workers", bad])
    assert info.value.code == 2
    assert "--workers: must be a whole number of at least 1" in capsys.readouterr().err


class _Captured(Exception):
    """Stops the command once it has built its config."""


@pytest.fixture
def captured(monkeypatch):
    """The BuildConfig / TrainConfig that `build` and `train` would run with."""
    seen = {}

    def build(images, out, config, **_):
        seen["build"] = config
        raise _Captured

    def train(images, out, model_config, train_config, **_):
        seen["train"] = train_config
        raise _Captured

    monkeypatch.setattr("lookalike.pipeline.build.build_collection", build)
    monkeypatch.setattr("lookalike.pipeline.train.train_model", train)
    return seen


def test_recipe_flags_reach_the_config_and_default_to_the_recipe(captured):
    from lookalike.encoder.augment import AugmentConfig
    from lookalike.encoder.train import TrainConfig
    from lookalike.pipeline.build import BuildConfig

    with pytest.raises(_Captured):
        main(["build", "x", "--out", "y"])
    assert captured["build"] == BuildConfig()  # no flags: exactly the recipe
    with pytest.raises(_Captured):
        main(["build", "x", "--out", "y", "--flip", "0.5", "--whiten-power", "0.5"])
    assert captured["build"].train_config == TrainConfig(augment=AugmentConfig(flip=0.5))
    assert captured["build"].whiten_power == 0.5
    with pytest.raises(_Captured):
        main(["train", "x", "--out", "y", "--flip", "1"])
    assert captured["train"] == TrainConfig(augment=AugmentConfig(flip=1.0))


@pytest.mark.parametrize(("flag", "bad"), [("--flip", "1.5"), ("--flip", "nan"),
                                           ("--whiten-power", "0.6"), ("--whiten-power", "-1"),
                                           ("--whiten-power", "half")])
def test_recipe_flags_are_checked_by_the_parser(flag, bad, capsys):
    with pytest.raises(SystemExit) as info:
        main(["build", "x", "--out", "y", flag, bad])
    assert info.value.code == 2
    assert f"{flag}: must be a number from" in capsys.readouterr().err


def claimed_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height: enough for Pillow's size checks."""
    import io
    import struct
    import zlib

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def test_an_over_cap_image_is_one_clear_line_without_pillows_warning(tmp_path, image_folder):
    """10,000 x 9,000 is over Pillow's own limit (about 89M pixels), which warns, and over
    lookalike's cap (50M), which refuses it. 300 rows, so decoding runs in worker processes."""
    import subprocess
    import sys

    from lookalike.encoder.pretrained import BASE_DIR

    (tmp_path / "huge.png").write_bytes(claimed_png(10_000, 9_000))
    image = sorted(image_folder.iterdir())[0]
    manifest = tmp_path / "images.txt"
    manifest.write_text("huge.png\n" + f"{image}\n" * 300)
    done = subprocess.run(
        [sys.executable, "-m", "lookalike.app.cli", "embed", str(BASE_DIR), str(manifest),
         "--out", str(tmp_path / "v.npz"), "--workers", "2"],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "DecompressionBomb" not in done.stderr
    assert "skipped huge.png: the image is 10000x9000 = 90,000,000 pixels, over the cap" \
        in done.stderr
    assert "embedded 300 images" in done.stdout
