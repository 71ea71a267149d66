"""Building, starting and gracefully stopping the gRPC server."""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from lookalike.common.errors import InvalidArgument, Unavailable
from lookalike.encoder import checkpoint
from lookalike.encoder.embed import BATCH_SIZES, Embedder, enable_compilation_cache
from lookalike.indexer.manifest import MODEL_DIR
from lookalike.indexer.opener import open_collection
from lookalike.proto.v1 import lookalike_pb2_grpc as pb_grpc
from lookalike.server.admission import ConcurrencyLimit, CountingExecutor, call_executor
from lookalike.server.config import ServerConfig
from lookalike.server.engine import Engine
from lookalike.server.metrics import Metrics
from lookalike.server.observe import CallLog
from lookalike.server.parsing import ParseRequests
from lookalike.server.security import SERVICE_NAME, TokenAuth, load_tokens, server_credentials
from lookalike.server.service import LookalikeService

logger = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@dataclass
class Running:
    """A started server and the handles needed to stop it well."""

    server: grpc.Server
    port: int
    health: health.HealthServicer
    service: LookalikeService
    metrics: Metrics
    executor: CountingExecutor
    metrics_port: int | None = None
    engine: Engine | None = None
    loaded: threading.Event = field(default_factory=threading.Event)
    load_error: BaseException | None = None
    stopping: bool = False
    # Orders stop() against a load that finishes meanwhile: one of them closes the engine.
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set_serving(self, serving: bool) -> None:
        for name in ("", SERVICE_NAME):
            self.health.set(name, SERVING if serving else NOT_SERVING)

    def wait_ready(self, timeout: float | None = None) -> Engine:
        """Blocks until the model is loaded and warm; raises what loading raised."""
        if not self.loaded.wait(timeout):
            raise TimeoutError("the model did not finish loading in time")
        if self.load_error is not None:
            raise self.load_error
        if self.engine is None:
            raise Unavailable("the server stopped before its model finished loading")
        return self.engine

    def stop(self, grace_s: float, drain_s: float = 0.0) -> None:
        """Refuses new calls, lets in-flight ones finish within grace_s, then closes.

        For drain_s seconds first, health says NOT_SERVING and new calls get UNAVAILABLE
        while the port stays open, so health checks can see it before it closes.
        """
        with self.lock:
            self.stopping = True
        self.health.enter_graceful_shutdown()
        self.service.close()
        if drain_s > 0:
            time.sleep(drain_s)
        self.server.stop(grace_s).wait()
        # Handler threads may outlive a cancelled call: let them end before closing files.
        drain = threading.Thread(target=self.executor.shutdown, kwargs={"wait": True})
        drain.start()
        drain.join(timeout=max(grace_s, 1.0))
        self.service.shutdown_pool()
        with self.lock:
            engine = self.engine
        if engine is not None:
            engine.thumbnails.close()
            engine.collection.close()
        self.metrics.close()
        logger.info("stopped; %s", "the collection is closed" if engine or self.loaded.is_set()
                    else "the model was still loading")


class LoadStopped(Exception):
    """Loading was given up because the server is stopping; never leaves this module."""


def load_engine(collection_dir: str | Path, config: ServerConfig,
                metrics: Metrics | None = None,
                stopping: Callable[[], bool] = lambda: False, *, shared: bool = False) -> Engine:
    """Opens the collection, loads its model and compiles every batch shape.

    stopping is asked between steps (each batch shape's compilation is one); once it says
    yes, loading ends with LoadStopped and the collection is closed again. A thread cannot
    be interrupted inside a compilation, and exiting while one runs aborts the process.
    shared: open the collection as one of several processes whose parent holds the
    folder (`lookalike serve --processes N`).
    """
    enable_compilation_cache()
    collection = open_collection(collection_dir, shared=shared)
    try:
        embedder = Embedder(checkpoint.load(Path(collection_dir) / MODEL_DIR))
        side = embedder.image_size
        for batch in BATCH_SIZES:  # Embedder.warmup(), a shape at a time
            if stopping():
                raise LoadStopped
            embedder(np.zeros((batch, side, side, 3), np.uint8))
        if stopping():
            raise LoadStopped
        return Engine(collection, embedder, config, metrics)
    except BaseException:
        collection.close()
        raise


def create_server(
    collection_dir: str | Path, config: ServerConfig | None = None, *, wait: bool = True,
    shared: bool = False, reuse_port: bool = False,
) -> Running:
    """Starts serving on config.port; health says NOT_SERVING until the model is warm.

    With wait=False the model loads in a background thread (see Running.wait_ready), so
    the port answers health checks from the start. shared and reuse_port make this server
    one worker process of several on one port (server/group/worker.py): the collection is opened
    shared, and the port is bound with SO_REUSEPORT, which a lone server leaves off so that
    a second server on its port is refused.
    """
    config = config or ServerConfig()
    tokens = load_tokens(config.token_file) if config.token_file else None
    credentials = (server_credentials(config.tls_cert, config.tls_key)
                   if config.tls_cert and config.tls_key else None)
    running = _start(config, tokens, credentials, reuse_port)
    if wait:
        _load(running, collection_dir, config, shared)
        try:
            running.wait_ready()
        except BaseException:
            running.stop(0)
            raise
    else:
        threading.Thread(target=_load, args=(running, collection_dir, config, shared),
                         name="load-model", daemon=True).start()
    return running


def _start(config: ServerConfig, tokens: tuple | None,
           credentials: grpc.ServerCredentials | None, reuse_port: bool = False) -> Running:
    metrics = Metrics()
    executor = call_executor(config.max_concurrent_rpcs)
    # Outermost first: CallLog sees every call, the refused ones included.
    interceptors: list[grpc.ServerInterceptor] = [
        CallLog(metrics), ConcurrencyLimit(executor, config.max_concurrent_rpcs)]
    if tokens:
        interceptors.append(TokenAuth(tokens))
    # Innermost, so a call refused above is refused without parsing its bytes.
    interceptors.append(ParseRequests())
    server = grpc.server(
        executor, interceptors=interceptors,
        options=[
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.max_send_message_length", config.max_message_bytes),
            ("grpc.so_reuseport", int(reuse_port)),
        ],
    )
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    service = LookalikeService(stream_window=config.stream_window,
                               stream_workers=config.workers)
    pb_grpc.add_LookalikeServicer_to_server(service, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    port = _listen(server, config.host, config.port, credentials)
    running = Running(server, port, health_servicer, service, metrics, executor)
    running.set_serving(False)
    server.start()
    if config.metrics_port is not None:
        try:
            running.metrics_port = metrics.serve_http(config.metrics_port, config.metrics_host)
        except OSError as exc:
            server.stop(0)
            why = (exc.strerror or str(exc)).lower()
            raise InvalidArgument(f"cannot serve metrics on {config.metrics_host}:"
                                  f"{config.metrics_port}: {why}") from None
    logger.info("listening on %s:%d (%s); loading the model", config.host, port,
                "TLS" if credentials else "plaintext")
    return running


def _listen(server: grpc.Server, host: str, port: int,
            credentials: grpc.ServerCredentials | None) -> int:
    """Binds the port; InvalidArgument saying why when it cannot be (grpcio only says that)."""
    address = f"{host}:{port}"
    try:
        bound = (server.add_secure_port(address, credentials) if credentials
                 else server.add_insecure_port(address))
    except RuntimeError:  # grpcio: "Failed to bind to address ..."
        bound = 0
    if bound == 0:
        raise InvalidArgument(f"cannot listen on {address}: {_bind_problem(host, port)}; "
                              "choose another --host or --port")
    return bound


def _bind_problem(host: str, port: int) -> str:
    """What the operating system says about binding host:port (grpcio does not tell)."""
    try:
        for family, kind, proto, _, where in socket.getaddrinfo(
                host.strip("[]"), port, type=socket.SOCK_STREAM):
            with socket.socket(family, kind, proto) as probe:
                probe.bind(where)
    except OSError as exc:
        return (exc.strerror or str(exc)).lower()
    return "it could not be bound"


def _load(running: Running, collection_dir: str | Path, config: ServerConfig,
          shared: bool = False) -> None:
    try:
        engine = load_engine(collection_dir, config, running.metrics,
                             stopping=lambda: running.stopping, shared=shared)
    except LoadStopped:
        logger.info("loading stopped: the server is stopping")
    except BaseException as exc:  # noqa: BLE001 - handed to wait_ready()
        logger.error("cannot load %s: %s", collection_dir, exc)
        running.load_error = exc
    else:
        with running.lock:
            if not running.stopping:
                running.engine = engine
                running.service.attach(engine)
                running.set_serving(True)
        if running.engine is not engine:
            engine.collection.close()
            logger.info("loaded after the server stopped; the collection is closed again")
        else:
            logger.info("serving %s (%d images)", collection_dir,
                        sum(engine.collection.cluster_sizes()))
    finally:
        running.loaded.set()


def serve(
    collection_dir: str | Path, config: ServerConfig | None = None,
    ready: Callable[[int], None] | None = None, *, shared: bool = False,
    reuse_port: bool = False,
) -> int:
    """Serves until SIGTERM or SIGINT, then stops gracefully and returns 0.

    ready, if given, is called with the bound port once the model is warm; a signal while
    the model loads stops the server without calling it. shared and reuse_port: see
    create_server.

    Raises:
        InvalidArgument: a setting that cannot work, e.g. an address that cannot be bound.
    """
    config = config or ServerConfig()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    running = create_server(collection_dir, config, wait=False, shared=shared,
                            reuse_port=reuse_port)
    while not running.loaded.wait(0.1) and not stop.is_set():
        pass
    if stop.is_set():
        logger.info("stopping before the model finished loading")
        with running.lock:
            running.stopping = True
        # Loading stops at its next step; exiting while it compiles would abort the process.
        running.loaded.wait()
        running.stop(0)
        return 0
    try:
        running.wait_ready()
    except BaseException:
        running.stop(0)
        raise
    if ready:
        ready(running.port)
    while not stop.wait(0.5):
        pass
    logger.info("stopping: draining %.1fs, then finishing in-flight calls (grace %.1fs)",
                config.drain_s, config.grace_s)
    running.stop(config.grace_s, config.drain_s)
    return 0
