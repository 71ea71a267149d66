"""Building, starting and gracefully stopping the gRPC server."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from lookalike.encoder import checkpoint
from lookalike.encoder.embed import Embedder, enable_compilation_cache
from lookalike.indexer.collection import Collection
from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.proto.v1 import lookalike_pb2_grpc as pb_grpc
from lookalike.server.config import ServerConfig
from lookalike.server.engine import Engine
from lookalike.server.service import LookalikeService

logger = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Lookalike"].full_name


@dataclass
class Running:
    """A started server and the handles needed to stop it well."""

    server: grpc.Server
    port: int
    health: health.HealthServicer
    engine: Engine

    def set_serving(self, serving: bool) -> None:
        status = (health_pb2.HealthCheckResponse.SERVING if serving
                  else health_pb2.HealthCheckResponse.NOT_SERVING)
        for name in ("", SERVICE_NAME):
            self.health.set(name, status)

    def stop(self, grace_s: float) -> None:
        """Refuses new calls, lets in-flight ones finish within grace_s, then closes."""
        self.set_serving(False)
        self.server.stop(grace_s).wait()
        self.engine.collection.close()


def load_engine(collection_dir: str | Path, config: ServerConfig) -> Engine:
    enable_compilation_cache()
    collection = Collection.open(collection_dir)
    embedder = Embedder(checkpoint.load(collection.model_dir))
    embedder.warmup()
    return Engine(collection, embedder, config)


def create_server(collection_dir: str | Path, config: ServerConfig = ServerConfig()) -> Running:
    """Loads the collection, warms the model up and starts serving on config.port."""
    health_servicer = health.HealthServicer()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.workers),
        maximum_concurrent_rpcs=config.max_concurrent_rpcs,
        options=[
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.max_send_message_length", config.max_message_bytes),
        ],
    )
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port(f"{config.host}:{config.port}")
    if port == 0:
        raise OSError(f"cannot listen on {config.host}:{config.port}")
    engine = load_engine(collection_dir, config)
    pb_grpc.add_LookalikeServicer_to_server(LookalikeService(engine), server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    running = Running(server, port, health_servicer, engine)
    running.set_serving(False)
    server.start()
    running.set_serving(True)
    logger.info("serving %s on %s:%d (%d images)", collection_dir, config.host, port,
                len(engine.collection))
    return running


def serve(
    collection_dir: str | Path, config: ServerConfig = ServerConfig(),
    ready: Callable[[int], None] | None = None,
) -> int:
    """Serves until SIGTERM or SIGINT, then stops gracefully and returns 0.

    ready, if given, is called with the bound port once the server answers.
    """
    running = create_server(collection_dir, config)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if ready:
        ready(running.port)
    stop.wait()
    logger.info("stopping: finishing in-flight calls (grace %.1fs)", config.grace_s)
    running.stop(config.grace_s)
    return 0
