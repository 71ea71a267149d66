"""A lookalike.v1 server that is not ours: it drops, repeats, reorders and mislabels answers.

A real grpc server on loopback, implementing the service the generated stubs describe
(lookalike_pb2_grpc.LookalikeServicer, plus the standard health service), whose answers
a test scripts: each rpc's behaviour is a function from the requests to the answers, and
an answer may be a message or raw bytes (for answers that are not what the contract says
at the wire level). By default every answer is a well-formed one, so a test changes only
what it attacks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2

from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.proto.v1 import lookalike_pb2_grpc as pb_grpc

Answer = Message | bytes


def neighbor(n: int) -> pb.Neighbor:
    return pb.Neighbor(id=f"n{n}", path=f"/images/{n}.png", distance=float(n), cluster=n % 3)


def search_answer(cluster: int = 1) -> pb.SearchResponse:
    return pb.SearchResponse(cluster=cluster, neighbors=[neighbor(n) for n in range(3)])


def stream_answers(requests: list[pb.SearchStreamRequest]) -> list[Answer]:
    """What a good server answers: each row, in order, under its own tag."""
    return [pb.SearchStreamResponse(tag=r.tag, response=search_answer(int(r.tag) % 5))
            for r in requests]


def add_answers(requests: list[pb.AddRequest]) -> list[Answer]:
    return [pb.AddResponse(tag=r.tag, id=r.id or f"auto-{r.tag}", cluster=2) for r in requests]


def item(n: int) -> pb.Item:
    return pb.Item(id=f"i{n}", path=f"/images/{n}.png", cluster=n % 3, labels=["cat"],
                   attributes=[pb.Attribute(key="price", value=pb.Value(number=n))])


@dataclass
class Script:
    """What the server answers to each rpc: the requests in, the answers out."""

    search: Callable[[pb.SearchRequest], Answer] = lambda request: search_answer()
    search_stream: Callable[[list[pb.SearchStreamRequest]], list[Answer]] = stream_answers
    add: Callable[[list[pb.AddRequest]], list[Answer]] = add_answers
    delete: Callable[[pb.DeleteRequest], Answer] = (
        lambda request: pb.DeleteResponse(deleted=len(request.ids)))
    info: Callable[[pb.InfoRequest], Answer] = (
        lambda request: pb.InfoResponse(input_size=0, count=10, clusters=3))
    health: Callable[[Any], Answer] = (
        lambda request: health_pb2.HealthCheckResponse(status=1))
    browse: Callable[[pb.BrowseRequest], Answer] = (
        lambda request: pb.BrowseResponse(items=[item(n) for n in range(2)]))
    count: Callable[[pb.CountRequest], Answer] = lambda request: pb.CountResponse(count=7)
    get: Callable[[pb.GetRequest], Answer] = (
        lambda request: pb.GetResponse(items=[pb.Item(id=i) for i in request.ids]))
    update: Callable[[pb.UpdateRequest], Answer] = (
        lambda request: pb.UpdateResponse(updated=len(request.ids.ids)))
    name_cluster: Callable[[pb.NameClusterRequest], Answer] = (
        lambda request: pb.NameClusterResponse(previous="old"))
    thumbnail: Callable[[pb.ThumbnailRequest], Answer] = (
        lambda request: pb.ThumbnailResponse(thumbs=[
            pb.Thumb(id=i, status=pb.Thumb.OK, image=b"\xff\xd8jpeg", mime_type="image/jpeg",
                     width=4, height=3) for i in request.ids]))
    map: Callable[[pb.MapRequest], list[Answer]] = (
        lambda request: [pb.MapChunk(ids=["a", "b"], x=[0, 1], y=[2, 3], clusters=[0, 1],
                                     placed=[False, True], map_version="v1"),
                         pb.MapChunk(ids=["c"], x=[4], y=[5], clusters=[2], placed=[False],
                                     map_version="v1")])
    calls: list[str] = field(default_factory=list)  # the rpcs called, in order


class HostileServicer(pb_grpc.LookalikeServicer):
    """The lookalike.v1 service, answering as the script says."""

    def __init__(self, script: Script) -> None:
        self.script = script

    def Search(self, request: pb.SearchRequest, context: grpc.ServicerContext) -> Answer:
        self.script.calls.append("Search")
        return self.script.search(request)

    def SearchStream(self, requests: Iterator[pb.SearchStreamRequest],
                     context: grpc.ServicerContext) -> Iterator[Answer]:
        self.script.calls.append("SearchStream")
        yield from self.script.search_stream(list(requests))

    def Add(self, requests: Iterator[pb.AddRequest],
            context: grpc.ServicerContext) -> Iterator[Answer]:
        self.script.calls.append("Add")
        yield from self.script.add(list(requests))

    def Delete(self, request: pb.DeleteRequest, context: grpc.ServicerContext) -> Answer:
        self.script.calls.append("Delete")
        return self.script.delete(request)

    def Info(self, request: pb.InfoRequest, context: grpc.ServicerContext) -> Answer:
        self.script.calls.append("Info")
        return self.script.info(request)

    def Browse(self, request: pb.BrowseRequest, context: grpc.ServicerContext) -> Answer:
        self.script.calls.append("Browse")
        return self.script.browse(request)

    def Count(self, request: pb.CountRequest, context: grpc.ServicerContext) -> Answer:
        self.script.calls.append("Count")
        return self.script.count(request)

    def Get(self, request: pb.GetRequest, context: grpc.ServicerContext) -> Answer:
        self.script.calls.append("Get")
        return self.script.get(request)

    def Update(self, request: pb.UpdateRequest, context: grpc.ServicerContext) -> Answer:
        self.script.calls.append("Update")
        return self.script.update(request)

    def NameCluster(self, request: pb.NameClusterRequest,
                    context: grpc.ServicerContext) -> Answer:
        self.script.calls.append("NameCluster")
        return self.script.name_cluster(request)

    def Thumbnail(self, request: pb.ThumbnailRequest,
                  context: grpc.ServicerContext) -> Answer:
        self.script.calls.append("Thumbnail")
        return self.script.thumbnail(request)

    def Map(self, request: pb.MapRequest, context: grpc.ServicerContext) -> Iterator[Answer]:
        self.script.calls.append("Map")
        yield from self.script.map(request)

    def Check(self, request: Any, context: grpc.ServicerContext) -> Answer:
        self.script.calls.append("Check")
        return self.script.health(request)


def _serialize(answer: Answer) -> bytes:
    return answer if isinstance(answer, bytes) else answer.SerializeToString()


def _handlers(servicer: HostileServicer) -> list[grpc.GenericRpcHandler]:
    """The service's methods as the generated descriptor lists them, each answer sent as
    its bytes, so a script may send bytes that are not the declared message."""
    kinds = {(False, False): grpc.unary_unary_rpc_method_handler,
             (False, True): grpc.unary_stream_rpc_method_handler,
             (True, True): grpc.stream_stream_rpc_method_handler}
    service = pb.DESCRIPTOR.services_by_name["Lookalike"]
    methods = {
        m.name: kinds[m.client_streaming, m.server_streaming](
            getattr(servicer, m.name), response_serializer=_serialize,
            request_deserializer=getattr(pb, m.input_type.name).FromString)
        for m in service.methods}
    health = {"Check": grpc.unary_unary_rpc_method_handler(
        servicer.Check, request_deserializer=health_pb2.HealthCheckRequest.FromString,
        response_serializer=_serialize)}
    return [grpc.method_handlers_generic_handler(service.full_name, methods),
            grpc.method_handlers_generic_handler("grpc.health.v1.Health", health)]


class HostileServer:
    """The server on a free loopback port; `target` is its address."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self._server.add_generic_rpc_handlers(_handlers(HostileServicer(script)))
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.target = f"127.0.0.1:{self.port}"
        self._server.start()

    def stop(self) -> None:
        self._server.stop(grace=0).wait()

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
