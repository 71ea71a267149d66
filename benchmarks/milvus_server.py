"""A real Milvus server for the tests: the `milvus` package's embedded 2.3.5 server binary.

Not Milvus Lite (a Python rewrite over Faiss): this is the engine users deploy. One server
starts per pytest run, on free ports, in a temporary folder, the first time a test asks
for it (about 10 s), and stops at the end of the run.
"""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

# Milvus waits for its time tick before a Strong read; 200 ms by default, 20 ms here so
# the tests' many reads stay quick (docs/scale-out.md says the same to operators).
TEST_CONFIG = {"proxy.timeTickInterval": 20}


def _reusing_config():
    """The embedded server's config, probing ports the way Milvus binds them (SO_REUSEADDR).

    The package probes without it, so after a stop its port, held in TIME_WAIT by closed
    client connections for a minute, looks taken and a restart moves to another port.
    """
    from milvus import MilvusServerConfig

    class ReusingConfig(MilvusServerConfig):
        def try_bind_port(self, port: int) -> socket.socket | None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
                sock.listen()
                return sock
            except OSError:
                sock.close()
                return None

    return ReusingConfig()


@contextmanager
def milvus_server(config: dict | None = None) -> Iterator[object]:
    """A started embedded Milvus server; its .listen_port is the client port.

    config: milvus.yaml settings by dotted name, over TEST_CONFIG.
    """
    from milvus import MilvusServer

    server = MilvusServer(_reusing_config())
    server.config.extra_configs.update({**TEST_CONFIG, **(config or {})})
    with tempfile.TemporaryDirectory(prefix="lookalike-milvus-") as folder:
        server.set_base_dir(folder)
        server.start()
        try:
            yield server
        finally:
            server.stop()
