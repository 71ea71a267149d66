"""`lookalike build/embed --ray`: end to end on a local Ray, and without Ray installed."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from lookalike.app.cli import main


@pytest.mark.timeout(300)
def test_embed_on_ray_writes_what_a_local_embed_writes(tmp_path, image_folder, model_dir,
                                                       ray_local, capsys):
    here, there = tmp_path / "here.npz", tmp_path / "ray.npz"
    assert main(["embed", str(model_dir), str(image_folder), "--out", str(here)]) == 0
    assert main(["embed", str(model_dir), str(image_folder), "--out", str(there),
                 "--ray", "local", "--ray-actors", "1"]) == 0
    assert "embedded 48 images (16-d), 0 skipped" in capsys.readouterr().out
    a, b = np.load(here, allow_pickle=False), np.load(there, allow_pickle=False)
    assert np.array_equal(a["vectors"], b["vectors"])
    assert a["ids"].tolist() == b["ids"].tolist() and a["model"] == b["model"]


# Imports what a user of the SDK and of the local commands imports, checks none of it
# loaded Ray, then hides Ray as if it were not installed and asks for it.
WITHOUT_RAY = """
import sys
import lookalike.app.cli, lookalike.clients, lookalike.pipeline.build, lookalike.pipeline.embed
assert "ray" not in sys.modules, "Ray was imported without --ray"
sys.modules["ray"] = None
from lookalike.app.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("command", ["embed", "build"])
def test_ray_not_installed_is_a_clear_message(command, tmp_path, image_folder, model_dir):
    argv = (["embed", str(model_dir), str(image_folder), "--out", str(tmp_path / "v.npz")]
            if command == "embed" else
            ["build", str(image_folder), "--out", str(tmp_path / "c")])
    done = subprocess.run([sys.executable, "-c", WITHOUT_RAY, *argv, "--ray", "auto"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert f"lookalike {command}: --ray needs Ray Data" in done.stderr
    assert "pip install 'lookalike[ray]'" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "c").exists()
