"""The lookalike SDK: `from lookalike.clients import Client`."""

from lookalike.clients.client import Client
from lookalike.clients.results import Neighbor, SearchResult

__all__ = ["Client", "Neighbor", "SearchResult"]
