"""TLS and bearer tokens from the client side, against a server that demands both."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lookalike.app.cli import main
from lookalike.clients import Client
from lookalike.clients.retry import NO_RETRY
from lookalike.common.errors import PermissionDenied, Unauthenticated, Unavailable
from lookalike.server.config import ServerConfig
from lookalike.server.grpc_server import create_server


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, its key, and a token file."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key, tokens = folder / "cert.pem", folder / "key.pem", folder / "tokens.txt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True)
    tokens.write_text("read reader-token\nwrite writer-token\n")
    return cert, key, tokens


@pytest.fixture(scope="module")
def secure_target(built_collection, tls_files, tmp_path_factory):
    import shutil

    cert, key, tokens = tls_files
    folder = Path(shutil.copytree(built_collection, tmp_path_factory.mktemp("sec") / "c"))
    running = create_server(folder, ServerConfig(
        port=0, tls_cert=str(cert), tls_key=str(key), token_file=str(tokens)))
    yield f"127.0.0.1:{running.port}"
    running.stop(grace_s=1)


def test_tls_with_a_read_token_searches(secure_target, tls_files, image_folder):
    cert, _, _ = tls_files
    with Client(secure_target, root_certificates=cert, token="reader-token") as client:
        assert client.health() == "SERVING"
        result = client.search(sorted(image_folder.iterdir())[0], k=2)
    assert len(result.neighbors) == 2


@pytest.mark.parametrize(
    ("token", "error", "words"),
    [
        (None, Unauthenticated, "send the metadata 'authorization: Bearer TOKEN'"),
        ("wrong", Unauthenticated, "the token is not valid for this server"),
    ],
)
def test_missing_or_wrong_token_is_unauthenticated(secure_target, tls_files, token, error,
                                                   words):
    cert, _, _ = tls_files
    with Client(secure_target, root_certificates=cert.read_bytes(), token=token) as client:
        with pytest.raises(error) as info:
            client.info()
    assert words in str(info.value)


def test_a_read_token_may_not_write_and_a_write_token_may(secure_target, tls_files,
                                                          image_folder):
    cert, _, _ = tls_files
    image = sorted(image_folder.iterdir())[0]
    with Client(secure_target, root_certificates=cert, token="reader-token") as client:
        with pytest.raises(PermissionDenied, match="Delete needs a write token"):
            client.delete(["nothing"])
    with Client(secure_target, root_certificates=cert, token="writer-token") as client:
        (added,) = client.add([image], ids=["tls-1"])
        assert added.id == "tls-1"
        assert client.delete(["tls-1"]) == (1, [])


def test_plaintext_or_untrusted_certificate_cannot_connect(secure_target, tls_files):
    for options in ({}, {"tls": True}):  # no TLS; TLS with the system roots only
        with Client(secure_target, token="reader-token", retry=NO_RETRY, **options) as client:
            with pytest.raises(Unavailable):
                client.info(timeout=5)


def test_a_certificate_for_another_name_is_refused_unless_overridden(secure_target, tls_files):
    cert, _, _ = tls_files
    host_port = secure_target.replace("127.0.0.1", "localhost")
    with Client(host_port, root_certificates=cert, token="reader-token",
                tls_server_name="localhost") as client:
        assert client.info().count == 48
    with Client(secure_target, root_certificates=cert, token="reader-token",
                tls_server_name="elsewhere.example", retry=NO_RETRY) as client:
        with pytest.raises(Unavailable):
            client.info(timeout=5)


def test_cli_takes_tls_flags_and_the_token_from_the_environment(secure_target, tls_files,
                                                                 monkeypatch, capsys):
    cert, _, _ = tls_files
    monkeypatch.setenv("LOOKALIKE_TOKEN", "reader-token")
    assert main(["info", "--target", secure_target, "--root-certs", str(cert)]) == 0
    assert '"count": 48' in capsys.readouterr().out
    monkeypatch.delenv("LOOKALIKE_TOKEN")
    assert main(["info", "--target", secure_target, "--root-certs", str(cert)]) == 1
    assert "needs a token" in capsys.readouterr().err


def test_cli_add_and_delete_authenticate_like_every_connecting_command(
        secure_target, tls_files, image_folder, tmp_path, monkeypatch, capsys):
    cert, _, _ = tls_files
    images = tmp_path / "new"
    images.mkdir()
    for path in sorted(image_folder.iterdir())[:2]:
        (images / path.name).write_bytes(path.read_bytes())
    secure = ["--target", secure_target, "--root-certs", str(cert)]
    monkeypatch.setenv("LOOKALIKE_TOKEN", "writer-token")
    assert main(["add", str(images), *secure, "--ids", "cli-1", "cli-2"]) == 0
    assert "added 2 images, 0 refused" in capsys.readouterr().out
    monkeypatch.delenv("LOOKALIKE_TOKEN")
    assert main(["delete", "cli-1", *secure, "--token", "reader-token"]) == 1
    assert "Delete needs a write token" in capsys.readouterr().err
    assert main(["delete", "cli-1", "cli-2", *secure, "--token", "writer-token",
                 "--tls-server-name", "localhost", "--timeout", "10"]) == 0
    assert "deleted 2 images" in capsys.readouterr().out


def test_every_command_with_a_target_takes_every_connection_flag():
    from lookalike.app.cli import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    connecting = {name for name, p in sub.choices.items() if "--target" in p._option_string_actions}
    assert {"search", "bulk", "info", "add", "delete"} <= connecting
    for name in connecting:
        flags = set(sub.choices[name]._option_string_actions)
        assert {"--timeout", "--token", "--tls", "--root-certs", "--tls-server-name"} <= flags, name
