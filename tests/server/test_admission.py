"""Health checks are admitted however busy the server is; long-lived streams are not."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from lookalike.proto.v1 import lookalike_pb2 as pb

from .conftest import one_slot_held

EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
CHECK = "/grpc.health.v1.Health/Check"


def test_a_full_server_still_answers_health_checks_serving(built_collection, stub_for,
                                                           image_folder):
    data = sorted(image_folder.iterdir())[0].read_bytes()
    with one_slot_held(built_collection, stub_for, data) as (running, target, stub, _):
        with grpc.insecure_channel(target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            # 32 of 102 readiness checks were RESOURCE_EXHAUSTED on a busy server before.
            for _ in range(30):
                answer = health.Check(health_pb2.HealthCheckRequest(), timeout=10)
                assert answer.status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.RpcError) as refused:
                stub.Search(pb.SearchRequest(id="1", k=1), timeout=20)
            assert refused.value.code() == EXHAUSTED
            # A reflection stream could stay open for ever without a token: it stays limited.
            reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            with pytest.raises(grpc.RpcError) as refused:
                next(reflection.ServerReflectionInfo(iter([request]), timeout=10))
            assert refused.value.code() == EXHAUSTED
        assert running.metrics.value("lookalike_calls_total",
                                     {"method": CHECK, "code": "OK"}) == 30
