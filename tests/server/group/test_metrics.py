"""The metric files of a server group's workers: one folder per group, cleaned up after."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lookalike.server.group import metrics as group_metrics


def test_a_killed_groups_metric_folder_is_removed_by_the_next_group(tmp_path, monkeypatch):
    monkeypatch.setattr(group_metrics.tempfile, "tempdir", str(tmp_path))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    orphan = tmp_path / f"{group_metrics.PREFIX}{gone.stdout.strip()}-abc"
    orphan.mkdir()
    (orphan / "counter_1.db").write_bytes(b"x")
    alive = tmp_path / f"{group_metrics.PREFIX}{os.getpid()}-def"
    alive.mkdir()
    mine = group_metrics.new_metrics_dir()
    try:
        assert not orphan.exists() and alive.exists()
        assert Path(mine).parent == tmp_path and Path(mine).is_dir()
    finally:
        group_metrics.remove_metrics_dir(mine)
    assert not Path(mine).exists() and group_metrics.MULTIPROC_ENV not in os.environ
