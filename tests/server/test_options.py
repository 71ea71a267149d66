"""ServerConfig from flags, environment variables and defaults; `lookalike serve --help`."""

from __future__ import annotations

import argparse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lookalike.app.cli import build_parser
from lookalike.common.errors import InvalidArgument
from lookalike.server.config import ServerConfig
from lookalike.server.options import (
    OPTIONS,
    PROCESSES_PER_CORE,
    add_arguments,
    config_from_args,
    default_processes,
    usable_cores,
)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_defaults_when_nothing_is_set():
    assert config_from_args(parse(), environ={}) == ServerConfig()


def test_a_flag_wins_over_the_environment_which_wins_over_the_default():
    environ = {"LOOKALIKE_PORT": "6000", "LOOKALIKE_MAX_K": "50",
               "LOOKALIKE_FETCH_HOSTS": "a.example.com, *.b.example.com",
               "LOOKALIKE_METRICS_PORT": "9100"}
    config = config_from_args(parse("--port", "7000"), environ=environ)
    assert config.port == 7000 and config.max_k == 50 and config.metrics_port == 9100
    assert config.fetch_hosts == ("a.example.com", "*.b.example.com")
    assert config.allow_url_fetch and not ServerConfig().allow_url_fetch


def test_every_flag_reaches_its_field():
    argv = ["--host", "0.0.0.0", "--max-pixels", "1000", "--grace", "2.5",
            "--batch-window-ms", "0", "--fetch-networks", "10.0.0.0/8",
            "--token-file", "t.txt", "--tls-cert", "c.pem", "--tls-key", "k.pem"]
    config = config_from_args(parse(*argv), environ={})
    assert (config.host, config.max_pixels, config.grace_s, config.batch_window_ms) == (
        "0.0.0.0", 1000, 2.5, 0.0)
    assert config.fetch_networks == ("10.0.0.0/8",) and config.token_file == "t.txt"
    assert config.fetch_limits().vet_addresses and config.fetch_limits().max_redirects == 2


@pytest.mark.parametrize(
    ("argv", "environ", "words"),
    [
        ((), {"LOOKALIKE_MAX_K": "lots"}, "LOOKALIKE_MAX_K='lots' is not a valid value"),
        (("--max-k", "0"), {}, "--max-k must be at least 1, got 0"),
        ((), {"LOOKALIKE_WORKERS": "0"}, "LOOKALIKE_WORKERS must be at least 1, got 0"),
        (("--port", "-1"), {}, "--port must be at least 0"),
        (("--tls-cert", "c.pem"), {}, "--tls-cert and --tls-key go together"),
        ((), {"LOOKALIKE_TLS_KEY": "k.pem"}, "--tls-cert and --tls-key go together"),
    ],
)
def test_bad_settings_are_refused_naming_the_flag_or_variable(argv, environ, words):
    with pytest.raises(InvalidArgument, match=words.replace("(", r"\(")):
        config_from_args(parse(*argv), environ=environ)


def test_serve_help_documents_every_limit_and_its_environment_variable():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    text = " ".join(sub.choices["serve"].format_help().split())
    for option in OPTIONS:
        assert option.flag in text and option.env in text
    for words in ("default: 1000", "default: 33554432", "default: 50000000", "default: 64",
                  "RESOURCE_EXHAUSTED", "SIGTERM"):
        assert words in text


@pytest.mark.parametrize("host", ["0.0.0.0", "[::]", "::1", "localhost", "lookalike_1",
                                  "img.example.com"])
def test_addresses_and_host_names_are_taken(host):
    assert config_from_args(parse("--host", host), environ={}).host == host


@pytest.mark.parametrize("host", ["999.1.1.1", "1.2.3", "bad host", "-a", "a..b"])
def test_a_host_that_is_no_address_is_refused(host):
    with pytest.raises(InvalidArgument, match="LOOKALIKE_HOST=.* is not a valid value"):
        config_from_args(parse(), environ={"LOOKALIKE_HOST": host})
    with pytest.raises(SystemExit) as info:
        parse("--host", host)
    assert info.value.code == 2


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12) | st.integers(-10**12, 10**12).map(str))
def test_any_process_count_in_the_environment_is_taken_or_refused_by_name(text):
    most = PROCESSES_PER_CORE * usable_cores()
    try:
        number = int(text)
    except ValueError:
        number = None
    if number is not None and 1 <= number <= most:
        assert config_from_args(parse(), {"LOOKALIKE_PROCESSES": text}).processes == number
        return
    with pytest.raises(InvalidArgument, match="LOOKALIKE_PROCESSES") as info:
        config_from_args(parse(), {"LOOKALIKE_PROCESSES": text})
    if number is not None and number > most:
        assert f"at most {most} ({PROCESSES_PER_CORE} per usable CPU core)" in str(info.value)


def test_processes_are_unset_by_default_and_the_default_is_one_per_usable_core():
    assert config_from_args(parse(), environ={}).processes is None
    assert default_processes() == usable_cores() >= 1
    assert config_from_args(parse("--processes", "1"), environ={}).processes == 1
