"""Server settings: one frozen dataclass, built from flags (or environment) in server/options.py."""

from __future__ import annotations

from dataclasses import dataclass

from lookalike.common.fetch import FetchLimits


@dataclass(frozen=True)
class ServerConfig:
    """Everything an operator can set on a server; defaults are safe for the public internet.

    Attributes:
        host: the address to listen on.
        port: the port to listen on; 0 picks a free one.
        processes: worker processes serving the port (server/group/supervisor.py); None picks
            the default (see default_processes); 1 is one process with no supervisor.
        max_k: the most neighbours one query may ask for.
        max_message_bytes: the largest request or response message, in bytes.
        max_pixels: the largest image, in pixels, refused before its pixels are decoded.
        max_concurrent_rpcs: calls queued or running at once, each on its own thread; more
            are refused with RESOURCE_EXHAUSTED by server/admission.py, which the call log
            and metrics see.
        workers: threads working on SearchStream rows, shared by all streams.
        grace_s: how long in-flight calls may run on after SIGTERM.
        drain_s: after SIGTERM, how long health says NOT_SERVING (and new calls get
            UNAVAILABLE) before the port closes, so load balancers notice first.
        batch_window_ms: how long a batch waits for callers that are still decoding.
        max_batch: the most queries in one encoder batch and grouped search.
        stream_window: rows of one SearchStream worked on at once (in order).
        decode_threads: images decoded at once; 0 means one per CPU core.
        encoder_threads: threads one encoder call may use (1, or 0 for XLA's default);
            applied by `lookalike serve` before the encoder starts.
        search_threads: OpenMP threads one Faiss search may use (0: Faiss's default).
        fetch_hosts: host names whose URLs the server fetches; empty turns fetching off.
            "*" allows any host name (addresses are still vetted).
        fetch_networks: address ranges (CIDR) allowed although private, loopback or
            link-local; empty refuses all of those.
        fetch_timeout_s: the time cap for one whole fetch, redirects included.
        fetch_max_bytes: the byte cap for one fetched body.
        tls_cert: PEM certificate chain file; with tls_key, the server speaks TLS only.
        tls_key: PEM private key file.
        token_file: lines of "read TOKEN" or "write TOKEN"; when set, calls need a token.
        metrics_port: the HTTP port for Prometheus metrics; None turns them off.
        metrics_host: the address the metrics endpoint listens on.
        thumbnail_cache_mb: memory for the Thumbnail call's cache of finished JPEGs, per
            process; 64 MB holds about 14,000 128-px photo thumbnails (about 4.6 KB each,
            benchmarks/thumbnail_bench.py), a 100K-image collection's screens of a session.
            0 turns the cache off.
    """

    host: str = "127.0.0.1"
    port: int = 50051
    processes: int | None = None
    max_k: int = 1000
    max_message_bytes: int = 32 * 1024 * 1024
    max_pixels: int = 50_000_000
    max_concurrent_rpcs: int = 64
    workers: int = 32
    grace_s: float = 5.0
    drain_s: float = 0.0
    batch_window_ms: float = 2.0
    max_batch: int = 64
    stream_window: int = 8
    decode_threads: int = 0
    encoder_threads: int = 1
    search_threads: int = 1
    fetch_hosts: tuple[str, ...] = ()
    fetch_networks: tuple[str, ...] = ()
    fetch_timeout_s: float = 10.0
    fetch_max_bytes: int = 32 * 1024 * 1024
    tls_cert: str | None = None
    tls_key: str | None = None
    token_file: str | None = None
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    thumbnail_cache_mb: int = 64

    @property
    def allow_url_fetch(self) -> bool:
        return bool(self.fetch_hosts)

    def fetch_limits(self) -> FetchLimits:
        """The strict limits the server fetches URLs with."""
        return FetchLimits(
            timeout_s=self.fetch_timeout_s,
            max_bytes=self.fetch_max_bytes,
            max_redirects=2,
            allowed_hosts=self.fetch_hosts,
            allowed_networks=self.fetch_networks,
            vet_addresses=True,
        )
