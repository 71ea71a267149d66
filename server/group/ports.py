"""Choosing and holding one port that several worker processes then listen on (SO_REUSEPORT)."""

from __future__ import annotations

import socket
from contextlib import ExitStack

from lookalike.common.errors import InvalidArgument


class PortReservation:
    """Sockets bound (not listening) to host:port with SO_REUSEPORT, one per address of host.

    While they are held, no program that does not set SO_REUSEPORT can take the port, yet
    the worker processes, which do, can listen on it. A bound socket that does not listen
    is never handed connections, so the reservation takes no traffic from the workers. The
    kernel only lets sockets of the same user share a port this way.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self._sockets = ExitStack()
        addresses = _addresses(host, port)
        if port == 0:
            port = _free_port(addresses[0])
        for family, address in addresses:
            _refuse_if_taken(family, address[:1] + (port,) + address[2:], host, port)
        try:
            for family, address in addresses:
                sock = self._sockets.enter_context(socket.socket(family, socket.SOCK_STREAM))
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                sock.bind(address[:1] + (port,) + address[2:])
        except OSError as exc:
            self._sockets.close()
            raise _cannot_listen(host, port, exc) from None
        self.port = port

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    def close(self) -> None:
        self._sockets.close()

    def __enter__(self) -> PortReservation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _addresses(host: str, port: int) -> list[tuple[int, tuple]]:
    """(family, sockaddr) of every address host names, as grpcio binds them all."""
    try:
        found = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise _cannot_listen(host, port, exc) from None
    unique: list[tuple[int, tuple]] = []
    for family, _, _, _, address in found:
        if (family, address) not in unique:
            unique.append((family, address))
    return unique


def _free_port(first: tuple[int, tuple]) -> int:
    """A port no socket holds, as the kernel picks one for a plain bind to port 0."""
    family, address = first
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind(address[:1] + (0,) + address[2:])
        return int(probe.getsockname()[1])


def _refuse_if_taken(family: int, address: tuple, host: str, port: int) -> None:
    """InvalidArgument when another program holds the port.

    The probe sets SO_REUSEADDR but not SO_REUSEPORT, as a grpcio server alone on its port
    does, so a listener, SO_REUSEPORT or not, makes it fail while a closed connection
    lingering in TIME_WAIT does not.
    """
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise _cannot_listen(host, port, exc) from None


def _cannot_listen(host: str, port: int, exc: OSError) -> InvalidArgument:
    why = (exc.strerror or str(exc)).lower()
    return InvalidArgument(f"cannot listen on {host}:{port}: {why}; "
                           "choose another --host or --port")
