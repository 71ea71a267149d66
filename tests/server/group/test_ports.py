"""The port a server group reserves: free for its workers (SO_REUSEPORT), refused to others."""

from __future__ import annotations

import socket

import pytest

from lookalike.common.errors import InvalidArgument
from lookalike.server.group.ports import PortReservation


def reuseport_listener(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


def test_workers_may_listen_on_the_reserved_port_and_others_may_not():
    with PortReservation("127.0.0.1", 0) as reserved:
        assert reserved.port > 0 and reserved.target == f"127.0.0.1:{reserved.port}"
        with reuseport_listener(reserved.port) as one, reuseport_listener(reserved.port) as two:
            with socket.create_connection(("127.0.0.1", reserved.port), timeout=5):
                pass  # a listening worker takes the connection, not the reservation
            assert one.getsockname()[1] == two.getsockname()[1] == reserved.port
        with socket.socket() as plain, pytest.raises(OSError):
            plain.bind(("127.0.0.1", reserved.port))  # a program without SO_REUSEPORT


def test_a_port_with_a_listener_is_refused_even_one_that_shares_ports():
    with reuseport_listener(0) as other:
        port = other.getsockname()[1]
        with pytest.raises(InvalidArgument,
                           match=f"cannot listen on 127.0.0.1:{port}: address already in use"):
            PortReservation("127.0.0.1", port)


def test_a_second_reservation_of_a_reserved_port_is_refused():
    with PortReservation("127.0.0.1", 0) as first, pytest.raises(InvalidArgument,
                                                                   match="already in use"):
        PortReservation("127.0.0.1", first.port)


def test_a_host_that_does_not_resolve_is_refused_with_its_reason():
    with pytest.raises(InvalidArgument, match="cannot listen on no-such-host.invalid:0: "):
        PortReservation("no-such-host.invalid", 0)

