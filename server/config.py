"""Server settings: one frozen dataclass, built from flags (or environment) in the CLI."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 50051  # 0 picks a free port
    max_k: int = 1000
    max_message_bytes: int = 32 * 1024 * 1024
    max_pixels: int = 50_000_000
    max_concurrent_rpcs: int = 64
    workers: int = 16
    grace_s: float = 5.0
    allow_url_fetch: bool = False
