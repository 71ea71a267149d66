"""The device JAX uses is logged once, at INFO, when a process first uses a model
(training's own line is checked in test_train.py, where a training already runs)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from typing import NamedTuple

import jax
import numpy as np
from PIL import Image

from lookalike.encoder import checkpoint
from lookalike.encoder.device import device_line, log_device
from lookalike.encoder.embed import Embedder
from lookalike.encoder.pretrained import load_base


class Device(NamedTuple):
    """The two attributes of a jax Device the line reads, for devices this box lacks."""

    platform: str
    device_kind: str


def test_the_cpu_line_names_the_threads_xla_uses():
    devices = jax.devices("cpu")
    version = jax.__version__
    assert device_line(devices, version, "", 2) == f"jax {version}: cpu (2 threads)"
    assert device_line(devices, version, "--xla_dump_to=/x", 16) == (
        f"jax {version}: cpu (16 threads)")
    single = "--xla_cpu_experimental_ynn_fusion_type= --xla_cpu_multi_thread_eigen=false"
    assert device_line(devices, version, single, 16) == f"jax {version}: cpu (1 thread)"


def test_an_accelerator_line_names_its_kind_and_count():
    h200 = Device("gpu", "NVIDIA H200")
    assert device_line([h200], "0.11.2", "", 16) == "jax 0.11.2: gpu NVIDIA H200"
    assert device_line([h200] * 8, "0.11.2", "", 16) == "jax 0.11.2: gpu NVIDIA H200 x8"
    assert device_line([Device("tpu", "TPU v5 lite")] * 4, "0.10.2", "", 8) == (
        "jax 0.10.2: tpu TPU v5 lite x4")
    assert device_line([], "0.10.2", "", 2) == "jax 0.10.2: no device"


def test_the_first_embedder_logs_the_device_and_later_ones_do_not(caplog):
    log_device.cache_clear()  # as in a fresh process
    model = load_base()
    with caplog.at_level(logging.INFO, logger="lookalike.encoder.device"):
        Embedder(model)
        Embedder(model)
    lines = [r for r in caplog.records if r.name == "lookalike.encoder.device"]
    assert [(r.levelno, r.getMessage()) for r in lines] == [
        (logging.INFO, f"jax {jax.__version__}: cpu ({len(os.sched_getaffinity(0))} threads)")]


def test_the_cli_says_the_device_once_without_verbose(tmp_path):
    """`lookalike embed` here; build and serve load the model through the same Embedder."""
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), np.uint8)).save(folder / f"{i}.png")
    checkpoint.save(load_base(), tmp_path / "model")
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "-m", "lookalike.app.cli", "embed", str(tmp_path / "model"),
         str(folder), "--out", str(tmp_path / "vectors.npz")],
        env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    said = [line for line in done.stderr.splitlines() if "lookalike.encoder.device" in line]
    assert len(said) == 1, done.stderr
    assert said[0].endswith(f"INFO lookalike.encoder.device: jax {jax.__version__}: cpu "
                            f"({len(os.sched_getaffinity(0))} threads)")
    assert (tmp_path / "vectors.npz").is_file()
