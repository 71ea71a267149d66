"""Regenerates the Python stubs in proto/v1 from proto/lookalike/v1/lookalike.proto."""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "lookalike" / "v1" / "lookalike.proto"
TARGET = HERE / "v1"
# The virtual include path makes protoc emit `from lookalike.proto.v1 import ...` directly.
VIRTUAL = "lookalike/proto/v1"
OUTPUTS = ("lookalike_pb2.py", "lookalike_pb2.pyi", "lookalike_pb2_grpc.py")


def generate(out_dir: Path) -> Path:
    """Runs protoc into out_dir and returns the folder holding the stubs."""
    grpc_include = Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{VIRTUAL}={SOURCE.parent}",
        f"-I{grpc_include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"{VIRTUAL}/{SOURCE.name}",
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return out_dir / VIRTUAL


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed stubs drift")
    check = parser.parse_args().check
    with tempfile.TemporaryDirectory() as tmp:
        made = generate(Path(tmp))
        drifted = [n for n in OUTPUTS if not (TARGET / n).exists()
                   or not filecmp.cmp(made / n, TARGET / n, shallow=False)]
        if check:
            if drifted:
                print(f"stubs drift from the .proto: {drifted}; run python proto/generate.py")
                return 1
            return 0
        TARGET.mkdir(exist_ok=True)
        for name in OUTPUTS:
            shutil.copyfile(made / name, TARGET / name)
        (TARGET / "__init__.py").touch()
    return 0


if __name__ == "__main__":
    sys.exit(main())
