"""Bearer tokens with scopes, open health and reflection, and TLS with a self-signed cert."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from lookalike.clients.errors import from_rpc_error
from lookalike.common.errors import InvalidArgument, PermissionDenied, Unauthenticated
from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.proto.v1 import lookalike_pb2_grpc as pb_grpc
from lookalike.server.config import ServerConfig
from lookalike.server.grpc_server import create_server
from lookalike.server.security import load_tokens, scope_of

from .conftest import encode, photo, running_server

READ, WRITE = "r3ad-token-0123456789", "wr1te-token-0123456789"


@pytest.fixture(scope="module")
def token_server(built_collection, tmp_path_factory):
    token_file = tmp_path_factory.mktemp("tokens") / "tokens.txt"
    token_file.write_text(f"# who may call\nread {READ}\n\nwrite {WRITE}\n")
    with running_server(built_collection, token_file=str(token_file)) as (_, target):
        with grpc.insecure_channel(target) as channel:
            yield channel


def auth(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def refused(call, *args, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        result = call(*args, **kwargs)
        list(result) if hasattr(result, "__iter__") else None
    return info.value


def test_calls_without_a_valid_token_are_unauthenticated(token_server):
    stub = pb_grpc.LookalikeStub(token_server)
    request = pb.SearchRequest(id="1", k=1)
    for metadata, words in [
        ((), "needs a token"),
        (auth("wrong-token"), "not valid"),
        ((("authorization", f"Basic {READ}"),), "needs a token"),
        (auth(READ + "x"), "not valid"),
    ]:
        error = refused(stub.Search, request, metadata=metadata, timeout=20)
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        assert words in error.details()
        assert isinstance(from_rpc_error(error), Unauthenticated)


def test_a_read_token_searches_but_may_not_write(token_server):
    stub = pb_grpc.LookalikeStub(token_server)
    assert stub.Search(pb.SearchRequest(id="1", k=1), metadata=auth(READ), timeout=20).neighbors
    assert stub.Info(pb.InfoRequest(), metadata=auth(READ), timeout=20).count == 48
    add = iter([pb.AddRequest(tag="x", image=encode(photo(), "PNG"), path="/x")])
    for error in (refused(stub.Add, add, metadata=auth(READ), timeout=20),
                  refused(stub.Delete, pb.DeleteRequest(ids=["1"]), metadata=auth(READ),
                          timeout=20)):
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "needs a write token" in error.details()
        assert isinstance(from_rpc_error(error), PermissionDenied)


def test_a_read_token_browses_but_may_not_label(token_server):
    stub = pb_grpc.LookalikeStub(token_server)
    read = {"metadata": auth(READ), "timeout": 20}
    assert stub.Count(pb.CountRequest(), **read).count == 48
    assert len(stub.Browse(pb.BrowseRequest(page_size=2), **read).items) == 2
    assert stub.Get(pb.GetRequest(ids=["1"]), **read).items[0].id == "1"
    for error in (refused(stub.Update, pb.UpdateRequest(cluster=0, add_labels=["x"]), **read),
                  refused(stub.NameCluster, pb.NameClusterRequest(cluster=0, name="x"),
                          **read)):
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    done = stub.Update(pb.UpdateRequest(ids=pb.IdList(ids=["1"]), add_labels=["x"]),
                       metadata=auth(WRITE), timeout=20)
    assert done.updated == 1


def test_thumbnails_and_the_map_need_a_read_token(token_server):
    stub = pb_grpc.LookalikeStub(token_server)
    read = {"metadata": auth(READ), "timeout": 20}
    thumbs = stub.Thumbnail(pb.ThumbnailRequest(ids=["1"], size=32), **read).thumbs
    assert [t.status for t in thumbs] == [pb.Thumb.OK]
    assert sum(len(c.ids) for c in stub.Map(pb.MapRequest(), **read)) == 48
    for error in (refused(stub.Thumbnail, pb.ThumbnailRequest(ids=["1"]), timeout=20),
                  refused(stub.Map, pb.MapRequest(), timeout=20)):
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_write_token_may_write_and_read(token_server):
    stub = pb_grpc.LookalikeStub(token_server)
    response = stub.Delete(pb.DeleteRequest(ids=["not-there"]), metadata=auth(WRITE), timeout=20)
    assert list(response.missing) == ["not-there"]
    assert stub.Search(pb.SearchRequest(id="1", k=1), metadata=auth(WRITE), timeout=20).neighbors


def test_health_and_reflection_need_no_token(token_server):
    health = health_pb2_grpc.HealthStub(token_server)
    status = health.Check(health_pb2.HealthCheckRequest(), timeout=20).status
    assert status == health_pb2.HealthCheckResponse.SERVING
    reflect = reflection_pb2_grpc.ServerReflectionStub(token_server)
    answer = next(reflect.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=20))
    assert answer.list_services_response.service


def test_a_token_matches_only_exactly():
    tokens = load_tokens_from_text(f"read {READ}\nwrite {WRITE}\n")
    assert scope_of(READ.encode(), tokens) == "read"
    assert scope_of(WRITE.encode(), tokens) == "write"
    assert scope_of(READ[:-1].encode(), tokens) is None
    assert scope_of(b"", tokens) is None


def load_tokens_from_text(text: str, tmp: Path | None = None) -> tuple:
    import tempfile

    folder = Path(tmp or tempfile.mkdtemp())
    path = folder / "tokens.txt"
    path.write_text(text)
    return load_tokens(path)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("admin TOKEN\n", "line 1: expected 'read TOKEN' or 'write TOKEN'"),
        ("read\n", "line 1: expected"),
        ("# only a comment\nread a b\n", "line 2: expected"),
        ("# nothing\n\n", "holds no tokens"),
    ],
)
def test_bad_token_files_are_refused_with_the_line(tmp_path, text, words):
    with pytest.raises(InvalidArgument, match=words):
        load_tokens_from_text(text, tmp_path)


def test_a_missing_token_file_is_refused_before_listening(tmp_path, built_collection):
    with pytest.raises(InvalidArgument, match="cannot read the token file"):
        create_server(built_collection, ServerConfig(port=0, token_file=str(tmp_path / "no")))


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_tls_serves_clients_that_trust_the_cert_and_refuses_plaintext(built_collection,
                                                                       self_signed):
    cert, key = self_signed
    with running_server(built_collection, tls_cert=str(cert), tls_key=str(key)) as (_, target):
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        with grpc.secure_channel(f"localhost:{target.rsplit(':', 1)[1]}", credentials) as ch:
            stub = pb_grpc.LookalikeStub(ch)
            assert stub.Search(pb.SearchRequest(id="1", k=2), timeout=20).neighbors
        with grpc.insecure_channel(target) as plain:
            error = refused(pb_grpc.LookalikeStub(plain).Search, pb.SearchRequest(id="1", k=1),
                            timeout=5)
            assert error.code() == grpc.StatusCode.UNAVAILABLE


def test_unreadable_or_non_pem_tls_files_are_refused(built_collection, tmp_path, self_signed):
    cert, _ = self_signed
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    for cert_file, key_file, words in [(cert, tmp_path / "missing.pem", "cannot read"),
                                       (cert, junk, "must be PEM files")]:
        with pytest.raises(InvalidArgument, match=words):
            create_server(built_collection, ServerConfig(port=0, tls_cert=str(cert_file),
                                                         tls_key=str(key_file)))
