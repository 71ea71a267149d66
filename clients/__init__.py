"""The lookalike SDK: `from lookalike.clients import Client` (or AsyncClient)."""

from lookalike.clients.async_client import AsyncClient
from lookalike.clients.client import Client
from lookalike.clients.errors import BadAnswer
from lookalike.clients.filters import Equals, Exists, Filter, Range
from lookalike.clients.map_messages import CollectionMap, Thumbnail
from lookalike.clients.results import (
    Added,
    CollectionInfo,
    Item,
    Neighbor,
    Page,
    SearchResult,
    Updated,
)
from lookalike.clients.retry import RetryPolicy

__all__ = ["Added", "AsyncClient", "BadAnswer", "Client", "CollectionInfo", "CollectionMap",
           "Equals", "Exists", "Filter", "Item", "Neighbor", "Page", "Range", "RetryPolicy",
           "SearchResult", "Thumbnail", "Updated"]
