import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_stubs_match_the_proto():
    result = subprocess.run([sys.executable, str(ROOT / "proto" / "generate.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_stubs_import_under_the_lookalike_namespace():
    from lookalike.proto.v1 import lookalike_pb2, lookalike_pb2_grpc

    assert lookalike_pb2.DESCRIPTOR.package == "lookalike.v1"
    assert hasattr(lookalike_pb2_grpc, "LookalikeServicer")
    fields = lookalike_pb2.SearchRequest.DESCRIPTOR.fields_by_name
    assert [fields[n].number for n in ("image", "url", "id", "vector", "k", "nprobe")] == [
        1, 2, 3, 4, 5, 6]
