from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SearchRequest(_message.Message):
    __slots__ = ("image", "url", "id", "vector", "k", "nprobe", "filter")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    NPROBE_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    url: str
    id: str
    vector: Vector
    k: int
    nprobe: int
    filter: Filter
    def __init__(self, image: _Optional[bytes] = ..., url: _Optional[str] = ..., id: _Optional[str] = ..., vector: _Optional[_Union[Vector, _Mapping]] = ..., k: _Optional[int] = ..., nprobe: _Optional[int] = ..., filter: _Optional[_Union[Filter, _Mapping]] = ...) -> None: ...

class Filter(_message.Message):
    __slots__ = ("any_of", "all_of", "none_of", "conditions", "path_prefix", "clusters")
    ANY_OF_FIELD_NUMBER: _ClassVar[int]
    ALL_OF_FIELD_NUMBER: _ClassVar[int]
    NONE_OF_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    PATH_PREFIX_FIELD_NUMBER: _ClassVar[int]
    CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    any_of: _containers.RepeatedScalarFieldContainer[str]
    all_of: _containers.RepeatedScalarFieldContainer[str]
    none_of: _containers.RepeatedScalarFieldContainer[str]
    conditions: _containers.RepeatedCompositeFieldContainer[Condition]
    path_prefix: str
    clusters: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, any_of: _Optional[_Iterable[str]] = ..., all_of: _Optional[_Iterable[str]] = ..., none_of: _Optional[_Iterable[str]] = ..., conditions: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ..., path_prefix: _Optional[str] = ..., clusters: _Optional[_Iterable[int]] = ...) -> None: ...

class Condition(_message.Message):
    __slots__ = ("key", "equals", "range", "exists")
    KEY_FIELD_NUMBER: _ClassVar[int]
    EQUALS_FIELD_NUMBER: _ClassVar[int]
    RANGE_FIELD_NUMBER: _ClassVar[int]
    EXISTS_FIELD_NUMBER: _ClassVar[int]
    key: str
    equals: Value
    range: Range
    exists: bool
    def __init__(self, key: _Optional[str] = ..., equals: _Optional[_Union[Value, _Mapping]] = ..., range: _Optional[_Union[Range, _Mapping]] = ..., exists: _Optional[bool] = ...) -> None: ...

class Range(_message.Message):
    __slots__ = ("min", "max", "min_exclusive", "max_exclusive")
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    MIN_EXCLUSIVE_FIELD_NUMBER: _ClassVar[int]
    MAX_EXCLUSIVE_FIELD_NUMBER: _ClassVar[int]
    min: float
    max: float
    min_exclusive: bool
    max_exclusive: bool
    def __init__(self, min: _Optional[float] = ..., max: _Optional[float] = ..., min_exclusive: _Optional[bool] = ..., max_exclusive: _Optional[bool] = ...) -> None: ...

class Value(_message.Message):
    __slots__ = ("text", "number")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    text: str
    number: float
    def __init__(self, text: _Optional[str] = ..., number: _Optional[float] = ...) -> None: ...

class Attribute(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: Value
    def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...

class Vector(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("cluster", "neighbors", "cluster_name")
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    NEIGHBORS_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_NAME_FIELD_NUMBER: _ClassVar[int]
    cluster: int
    neighbors: _containers.RepeatedCompositeFieldContainer[Neighbor]
    cluster_name: str
    def __init__(self, cluster: _Optional[int] = ..., neighbors: _Optional[_Iterable[_Union[Neighbor, _Mapping]]] = ..., cluster_name: _Optional[str] = ...) -> None: ...

class Neighbor(_message.Message):
    __slots__ = ("id", "path", "distance", "cluster", "labels", "attributes", "cluster_name")
    ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_NAME_FIELD_NUMBER: _ClassVar[int]
    id: str
    path: str
    distance: float
    cluster: int
    labels: _containers.RepeatedScalarFieldContainer[str]
    attributes: _containers.RepeatedCompositeFieldContainer[Attribute]
    cluster_name: str
    def __init__(self, id: _Optional[str] = ..., path: _Optional[str] = ..., distance: _Optional[float] = ..., cluster: _Optional[int] = ..., labels: _Optional[_Iterable[str]] = ..., attributes: _Optional[_Iterable[_Union[Attribute, _Mapping]]] = ..., cluster_name: _Optional[str] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("code", "message", "kind")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    kind: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., kind: _Optional[str] = ...) -> None: ...

class SearchStreamRequest(_message.Message):
    __slots__ = ("tag", "request")
    TAG_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    tag: str
    request: SearchRequest
    def __init__(self, tag: _Optional[str] = ..., request: _Optional[_Union[SearchRequest, _Mapping]] = ...) -> None: ...

class SearchStreamResponse(_message.Message):
    __slots__ = ("tag", "response", "error")
    TAG_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    tag: str
    response: SearchResponse
    error: Error
    def __init__(self, tag: _Optional[str] = ..., response: _Optional[_Union[SearchResponse, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class AddRequest(_message.Message):
    __slots__ = ("tag", "image", "path", "id", "labels", "attributes")
    TAG_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    tag: str
    image: bytes
    path: str
    id: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    attributes: _containers.RepeatedCompositeFieldContainer[Attribute]
    def __init__(self, tag: _Optional[str] = ..., image: _Optional[bytes] = ..., path: _Optional[str] = ..., id: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., attributes: _Optional[_Iterable[_Union[Attribute, _Mapping]]] = ...) -> None: ...

class AddResponse(_message.Message):
    __slots__ = ("tag", "id", "cluster", "error")
    TAG_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    tag: str
    id: str
    cluster: int
    error: Error
    def __init__(self, tag: _Optional[str] = ..., id: _Optional[str] = ..., cluster: _Optional[int] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("ids",)
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ids: _Optional[_Iterable[str]] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ("deleted", "missing")
    DELETED_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    missing: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, deleted: _Optional[int] = ..., missing: _Optional[_Iterable[str]] = ...) -> None: ...

class InfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class InfoResponse(_message.Message):
    __slots__ = ("model_fingerprint", "model_config_json", "embedding_dim", "input_size", "count", "clusters", "cluster_sizes", "default_nprobe", "format_version", "software_version", "imbalance", "base_model", "store", "cluster_names", "label_counts")
    MODEL_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    MODEL_CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_DIM_FIELD_NUMBER: _ClassVar[int]
    INPUT_SIZE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_SIZES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_NPROBE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_VERSION_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_VERSION_FIELD_NUMBER: _ClassVar[int]
    IMBALANCE_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_NAMES_FIELD_NUMBER: _ClassVar[int]
    LABEL_COUNTS_FIELD_NUMBER: _ClassVar[int]
    model_fingerprint: str
    model_config_json: str
    embedding_dim: int
    input_size: int
    count: int
    clusters: int
    cluster_sizes: _containers.RepeatedScalarFieldContainer[int]
    default_nprobe: int
    format_version: str
    software_version: str
    imbalance: float
    base_model: str
    store: str
    cluster_names: _containers.RepeatedCompositeFieldContainer[ClusterName]
    label_counts: _containers.RepeatedCompositeFieldContainer[LabelCount]
    def __init__(self, model_fingerprint: _Optional[str] = ..., model_config_json: _Optional[str] = ..., embedding_dim: _Optional[int] = ..., input_size: _Optional[int] = ..., count: _Optional[int] = ..., clusters: _Optional[int] = ..., cluster_sizes: _Optional[_Iterable[int]] = ..., default_nprobe: _Optional[int] = ..., format_version: _Optional[str] = ..., software_version: _Optional[str] = ..., imbalance: _Optional[float] = ..., base_model: _Optional[str] = ..., store: _Optional[str] = ..., cluster_names: _Optional[_Iterable[_Union[ClusterName, _Mapping]]] = ..., label_counts: _Optional[_Iterable[_Union[LabelCount, _Mapping]]] = ...) -> None: ...

class ClusterName(_message.Message):
    __slots__ = ("cluster", "name")
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    cluster: int
    name: str
    def __init__(self, cluster: _Optional[int] = ..., name: _Optional[str] = ...) -> None: ...

class LabelCount(_message.Message):
    __slots__ = ("label", "count")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    label: str
    count: int
    def __init__(self, label: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class Item(_message.Message):
    __slots__ = ("id", "path", "cluster", "cluster_name", "labels", "attributes", "vector")
    ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_NAME_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    id: str
    path: str
    cluster: int
    cluster_name: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    attributes: _containers.RepeatedCompositeFieldContainer[Attribute]
    vector: Vector
    def __init__(self, id: _Optional[str] = ..., path: _Optional[str] = ..., cluster: _Optional[int] = ..., cluster_name: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., attributes: _Optional[_Iterable[_Union[Attribute, _Mapping]]] = ..., vector: _Optional[_Union[Vector, _Mapping]] = ...) -> None: ...

class BrowseRequest(_message.Message):
    __slots__ = ("filter", "page_size", "page_token", "with_vectors")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    WITH_VECTORS_FIELD_NUMBER: _ClassVar[int]
    filter: Filter
    page_size: int
    page_token: str
    with_vectors: bool
    def __init__(self, filter: _Optional[_Union[Filter, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., with_vectors: _Optional[bool] = ...) -> None: ...

class BrowseResponse(_message.Message):
    __slots__ = ("items", "next_page_token")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[Item]
    next_page_token: str
    def __init__(self, items: _Optional[_Iterable[_Union[Item, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CountRequest(_message.Message):
    __slots__ = ("filter",)
    FILTER_FIELD_NUMBER: _ClassVar[int]
    filter: Filter
    def __init__(self, filter: _Optional[_Union[Filter, _Mapping]] = ...) -> None: ...

class CountResponse(_message.Message):
    __slots__ = ("count",)
    COUNT_FIELD_NUMBER: _ClassVar[int]
    count: int
    def __init__(self, count: _Optional[int] = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ("ids", "with_vectors")
    IDS_FIELD_NUMBER: _ClassVar[int]
    WITH_VECTORS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    with_vectors: bool
    def __init__(self, ids: _Optional[_Iterable[str]] = ..., with_vectors: _Optional[bool] = ...) -> None: ...

class GetResponse(_message.Message):
    __slots__ = ("items", "missing")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[Item]
    missing: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, items: _Optional[_Iterable[_Union[Item, _Mapping]]] = ..., missing: _Optional[_Iterable[str]] = ...) -> None: ...

class UpdateRequest(_message.Message):
    __slots__ = ("ids", "cluster", "filter", "add_labels", "remove_labels", "set_attributes", "clear_attributes")
    IDS_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ADD_LABELS_FIELD_NUMBER: _ClassVar[int]
    REMOVE_LABELS_FIELD_NUMBER: _ClassVar[int]
    SET_ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    CLEAR_ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    ids: IdList
    cluster: int
    filter: Filter
    add_labels: _containers.RepeatedScalarFieldContainer[str]
    remove_labels: _containers.RepeatedScalarFieldContainer[str]
    set_attributes: _containers.RepeatedCompositeFieldContainer[Attribute]
    clear_attributes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ids: _Optional[_Union[IdList, _Mapping]] = ..., cluster: _Optional[int] = ..., filter: _Optional[_Union[Filter, _Mapping]] = ..., add_labels: _Optional[_Iterable[str]] = ..., remove_labels: _Optional[_Iterable[str]] = ..., set_attributes: _Optional[_Iterable[_Union[Attribute, _Mapping]]] = ..., clear_attributes: _Optional[_Iterable[str]] = ...) -> None: ...

class IdList(_message.Message):
    __slots__ = ("ids",)
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ids: _Optional[_Iterable[str]] = ...) -> None: ...

class UpdateResponse(_message.Message):
    __slots__ = ("updated", "missing")
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    updated: int
    missing: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, updated: _Optional[int] = ..., missing: _Optional[_Iterable[str]] = ...) -> None: ...

class NameClusterRequest(_message.Message):
    __slots__ = ("cluster", "name")
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    cluster: int
    name: str
    def __init__(self, cluster: _Optional[int] = ..., name: _Optional[str] = ...) -> None: ...

class NameClusterResponse(_message.Message):
    __slots__ = ("previous",)
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    previous: str
    def __init__(self, previous: _Optional[str] = ...) -> None: ...

class ThumbnailRequest(_message.Message):
    __slots__ = ("ids", "size")
    IDS_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    size: int
    def __init__(self, ids: _Optional[_Iterable[str]] = ..., size: _Optional[int] = ...) -> None: ...

class ThumbnailResponse(_message.Message):
    __slots__ = ("thumbs",)
    THUMBS_FIELD_NUMBER: _ClassVar[int]
    thumbs: _containers.RepeatedCompositeFieldContainer[Thumb]
    def __init__(self, thumbs: _Optional[_Iterable[_Union[Thumb, _Mapping]]] = ...) -> None: ...

class Thumb(_message.Message):
    __slots__ = ("id", "status", "image", "mime_type", "width", "height")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[Thumb.Status]
        OK: _ClassVar[Thumb.Status]
        UNKNOWN_ID: _ClassVar[Thumb.Status]
        FILE_MISSING: _ClassVar[Thumb.Status]
        UNREADABLE: _ClassVar[Thumb.Status]
    STATUS_UNSPECIFIED: Thumb.Status
    OK: Thumb.Status
    UNKNOWN_ID: Thumb.Status
    FILE_MISSING: Thumb.Status
    UNREADABLE: Thumb.Status
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: Thumb.Status
    image: bytes
    mime_type: str
    width: int
    height: int
    def __init__(self, id: _Optional[str] = ..., status: _Optional[_Union[Thumb.Status, str]] = ..., image: _Optional[bytes] = ..., mime_type: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class MapRequest(_message.Message):
    __slots__ = ("chunk_size",)
    CHUNK_SIZE_FIELD_NUMBER: _ClassVar[int]
    chunk_size: int
    def __init__(self, chunk_size: _Optional[int] = ...) -> None: ...

class MapChunk(_message.Message):
    __slots__ = ("ids", "x", "y", "clusters", "placed", "map_version")
    IDS_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    PLACED_FIELD_NUMBER: _ClassVar[int]
    MAP_VERSION_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    x: _containers.RepeatedScalarFieldContainer[float]
    y: _containers.RepeatedScalarFieldContainer[float]
    clusters: _containers.RepeatedScalarFieldContainer[int]
    placed: _containers.RepeatedScalarFieldContainer[bool]
    map_version: str
    def __init__(self, ids: _Optional[_Iterable[str]] = ..., x: _Optional[_Iterable[float]] = ..., y: _Optional[_Iterable[float]] = ..., clusters: _Optional[_Iterable[int]] = ..., placed: _Optional[_Iterable[bool]] = ..., map_version: _Optional[str] = ...) -> None: ...
