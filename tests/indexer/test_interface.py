"""The store interface: Collection implements it exactly, and its one k/nprobe check."""

import inspect

import pytest

from lookalike.common.errors import InvalidArgument
from lookalike.indexer.interface import CollectionLike, Description, check_search
from lookalike.indexer.local.collection import Collection

METHODS = ["search", "add", "delete", "lookup", "describe", "cluster_sizes", "recluster", "close",
           "browse", "count", "get", "update", "name_cluster", "cluster_names", "label_counts",
           "rows", "update_many"]


def protocol_methods() -> list[str]:
    return sorted(name for name, value in vars(CollectionLike).items()
                  if not name.startswith("_") and inspect.isfunction(value))


def test_the_protocol_is_the_small_interface_the_server_and_pipeline_need():
    assert protocol_methods() == sorted(METHODS)


@pytest.mark.parametrize("name", METHODS)
def test_collection_has_each_method_with_the_protocol_signature(name):
    expected = inspect.signature(getattr(CollectionLike, name), eval_str=True)
    got = inspect.signature(getattr(Collection, name), eval_str=True)
    assert got == expected, f"Collection.{name}{got} differs from CollectionLike.{name}{expected}"


def test_an_open_collection_is_collection_like(collection):
    assert isinstance(collection, CollectionLike)
    about = collection.describe()
    assert about == Description(collection.manifest.model_fingerprint, collection.dim,
                                str(collection.manifest.format_version),
                                collection.default_nprobe)


def test_something_else_is_not():
    class Partial:
        def search(self, queries, k, nprobe=None): ...

    assert not isinstance(Partial(), CollectionLike)


@pytest.mark.parametrize(
    ("k", "nprobe", "max_k", "message"),
    [
        (0, 0, None, "k must be at least 1, got 0"),
        (-4, None, 10, "k must be at least 1, got -4"),
        (11, 0, 10, "k must be at most 10, got 11"),
        (3, -1, 10, "nprobe must be 0 (the default) or more, got -1"),
    ],
)
def test_check_search_refuses_with_the_messages_callers_see(k, nprobe, max_k, message):
    with pytest.raises(InvalidArgument) as info:
        check_search(k, nprobe, max_k)
    assert str(info.value) == message


def test_check_search_lets_good_values_through():
    check_search(1, None)
    check_search(10, 0, 10)
    check_search(5000, 99)  # no cap unless one is given; nprobe past nlist means all
