"""The lookalike SDK: `from lookalike.clients import Client` (or AsyncClient)."""

from lookalike.clients.async_client import AsyncClient
from lookalike.clients.client import Client
from lookalike.clients.errors import BadAnswer
from lookalike.clients.results import Added, CollectionInfo, Neighbor, SearchResult
from lookalike.clients.retry import RetryPolicy

__all__ = ["Added", "AsyncClient", "BadAnswer", "Client", "CollectionInfo", "Neighbor",
           "RetryPolicy", "SearchResult"]
