"""`lookalike serve`: serve a collection over gRPC."""

from __future__ import annotations

import argparse


def cmd_serve(args: argparse.Namespace) -> int:
    from lookalike.server.app import serve
    from lookalike.server.config import ServerConfig

    config = ServerConfig(host=args.host, port=args.port)
    return serve(args.collection, config,
                 ready=lambda port: print(f"lookalike serving on {args.host}:{port}", flush=True))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve a collection over gRPC")
    p.set_defaults(func=cmd_serve)
    p.add_argument("collection", help="the collection folder")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=50051, help="port to listen on (0: any free)")
