"""The one place ServerConfig is built from flags, environment variables and defaults.

Each option has a flag (`--max-k`) and an environment variable (`LOOKALIKE_MAX_K`); a flag
wins over the environment, which wins over the ServerConfig default.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lookalike.common.errors import InvalidArgument
from lookalike.server.config import ServerConfig


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


# Labels of letters, digits, hyphens and (container names) underscores.
_HOST_NAME = re.compile(r"(?!-)[\w-]{1,63}(?<!-)(\.(?!-)[\w-]{1,63}(?<!-))*\.?", re.ASCII)


def _address(text: str) -> str:
    """An IP address (IPv6 with or without brackets) or a host name, as grpcio takes it."""
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        ipaddress.ip_address(bare)
        return text
    except ValueError:
        pass
    # All digits and dots but no IPv4 address (999.1.1.1) is a typo, not a host name.
    if len(bare) > 253 or not _HOST_NAME.fullmatch(bare) or re.fullmatch(r"[0-9.]+", bare):
        raise argparse.ArgumentTypeError(f"{text!r} is not an IP address or a host name")
    return text


@dataclass(frozen=True)
class Option:
    """One setting: its ServerConfig field, flag, parser, help, and valid range."""

    field: str
    flag: str
    parse: Callable[[str], Any]
    help: str
    minimum: float | None = None
    metavar: str | None = None
    # A number, or a function of the machine (e.g. its cores) with a note saying which.
    maximum: float | Callable[[], float] | None = None
    maximum_note: str = ""

    @property
    def env(self) -> str:
        return "LOOKALIKE_" + self.flag.lstrip("-").upper().replace("-", "_")


PORT_MAX = 65535
PROCESSES_PER_CORE = 4  # more worker processes than this only add memory and contention


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, not the whole machine)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_processes() -> int:
    """--processes when unset: one worker process per usable core (benchmarks/server_bench.py
    --processes measured it against one process; see docs/production.md)."""
    return usable_cores()


def _most_processes() -> int:
    return PROCESSES_PER_CORE * usable_cores()

INT32_MAX = 2**31 - 1  # grpcio's message-size options are C ints

OPTIONS = (
    Option("host", "--host", _address,
           "address to listen on (0.0.0.0 or [::] for every interface)"),
    Option("port", "--port", int, "gRPC port; 0 picks a free one", 0, maximum=PORT_MAX),
    Option("processes", "--processes", int,
           "worker processes serving the one port, each with its own copy of the model "
           "(unset: one per CPU core, see docs/production.md)", 1,
           maximum=_most_processes, maximum_note=f" ({PROCESSES_PER_CORE} per usable CPU core)"),
    Option("max_k", "--max-k", int, "most neighbours one query may ask for", 1),
    Option("max_message_bytes", "--max-message-bytes", int,
           "largest request or response, in bytes; larger ones get RESOURCE_EXHAUSTED", 1024,
           maximum=INT32_MAX),
    Option("max_pixels", "--max-pixels", int,
           "largest image in pixels, refused (RESOURCE_EXHAUSTED) before it is decoded", 1),
    Option("max_concurrent_rpcs", "--max-concurrent-rpcs", int,
           "calls queued or running at once, each on its own thread; more get "
           "RESOURCE_EXHAUSTED (logged and counted like any call)", 1),
    Option("workers", "--workers", int, "threads working on SearchStream rows, shared by "
           "all streams", 1),
    Option("grace_s", "--grace", float,
           "seconds in-flight calls may run on after SIGTERM", 0, "SECONDS"),
    Option("drain_s", "--drain", float,
           "seconds after SIGTERM with health NOT_SERVING and new calls refused (UNAVAILABLE) "
           "before the port closes, so load balancers move away first", 0, "SECONDS"),
    Option("batch_window_ms", "--batch-window-ms", float,
           "longest wait (ms) for concurrent queries to join a batch; a lone query never waits",
           0, "MS"),
    Option("max_batch", "--max-batch", int, "most queries in one encoder batch", 1,
           maximum=4096),
    Option("decode_threads", "--decode-threads", int,
           "images decoded at once (0: one per CPU core)", 0),
    Option("encoder_threads", "--encoder-threads", int,
           "1: one encoder call uses one thread (concurrent calls share the cores); 0: XLA's "
           "default", 0),
    Option("search_threads", "--search-threads", int,
           "OpenMP threads one Faiss search may use (0: Faiss's default)", 0),
    Option("stream_window", "--stream-window", int,
           "rows of one SearchStream worked on at once", 1),
    Option("fetch_hosts", "--fetch-hosts", _csv,
           "comma-separated host names whose image URLs the server fetches ('*' any, "
           "'*.example.com' a domain); empty: URL queries are refused", None, "HOSTS"),
    Option("fetch_networks", "--fetch-networks", _csv,
           "comma-separated CIDR ranges fetched from although loopback, private or link-local "
           "(refused otherwise)", None, "CIDRS"),
    Option("fetch_timeout_s", "--fetch-timeout", float,
           "seconds one URL fetch may take, redirects included", 0.001, "SECONDS"),
    Option("fetch_max_bytes", "--fetch-max-bytes", int, "largest fetched image, in bytes", 1),
    Option("tls_cert", "--tls-cert", str, "PEM certificate chain; with --tls-key: TLS only",
           None, "PEM"),
    Option("tls_key", "--tls-key", str, "PEM private key of --tls-cert", None, "PEM"),
    Option("token_file", "--token-file", str,
           "file of 'read TOKEN' / 'write TOKEN' lines; calls then need "
           "'authorization: Bearer TOKEN' (health and reflection stay open)", None, "FILE"),
    Option("metrics_port", "--metrics-port", int,
           "HTTP port for Prometheus /metrics (off when unset; 0 picks a free one)", 0,
           maximum=PORT_MAX),
    Option("metrics_host", "--metrics-host", _address, "address the metrics endpoint listens on"),
    Option("thumbnail_cache_mb", "--thumbnail-cache-mb", int,
           "memory (MB, per process) for finished thumbnails of the Thumbnail call; 0: none",
           0, "MB"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds every option as a flag whose help names its default and environment variable."""
    defaults = ServerConfig()
    for option in OPTIONS:
        default = getattr(defaults, option.field)
        if isinstance(default, tuple):
            default = ",".join(default) or "none"
        elif default is None:
            default = "unset"
        parser.add_argument(
            option.flag, dest=option.field, type=option.parse, default=None,
            metavar=option.metavar or option.field.split("_")[-1].upper(),
            help=f"{option.help} [default: {default}; env {option.env}]",
        )


def config_from_args(
    args: argparse.Namespace, environ: Mapping[str, str] = os.environ
) -> ServerConfig:
    """The ServerConfig from parsed flags, then environment variables, then defaults.

    Raises:
        InvalidArgument: an unparsable environment value, a value below its minimum, or a
            TLS certificate without its key (or the reverse).
    """
    values: dict[str, Any] = {}
    for option in OPTIONS:
        value = getattr(args, option.field, None)
        source = option.flag
        if value is None and option.env in environ:
            source = option.env
            try:
                value = option.parse(environ[option.env])
            except (ValueError, argparse.ArgumentTypeError):
                raise InvalidArgument(
                    f"{option.env}={environ[option.env]!r} is not a valid value") from None
        if value is None:
            continue
        _check_range(option, source, value)
        values[option.field] = value
    config = dataclasses.replace(ServerConfig(), **values)
    if (config.tls_cert is None) != (config.tls_key is None):
        raise InvalidArgument("--tls-cert and --tls-key go together: give both or neither")
    return config


def _check_range(option: Option, source: str, value: Any) -> None:
    """Refuses a number outside the option's range (grpcio would wrap or overflow it)."""
    if not isinstance(value, int | float):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidArgument(f"{source} must be a finite number, got {value}")
    if option.minimum is not None and value < option.minimum:
        raise InvalidArgument(f"{source} must be at least {_num(option.minimum)}, "
                              f"got {_num(value)}")
    maximum = option.maximum() if callable(option.maximum) else option.maximum
    if maximum is not None and value > maximum:
        raise InvalidArgument(f"{source} must be at most {_num(maximum)}{option.maximum_note}, "
                              f"got {_num(value)}")


def _num(value: float) -> str:
    """A number as typed: 3000000000 stays 3000000000, 0.001 stays 0.001."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
