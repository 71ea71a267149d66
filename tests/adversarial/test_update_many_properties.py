"""Property-based, UpdateMany's request fields: any edit (labels, attributes, the replace
flags, ids, cluster names) is accepted by the SDK exactly when a plain model of the rules
says so; what the SDK sends, the server reads back as the same change; any raw message is
read or refused with InvalidArgument, never another error; and random batches through a
real server, then an export, match a plain Python model of the same data."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lookalike.clients import ImageEdit
from lookalike.clients.edits import update_many_requests
from lookalike.common.errors import InvalidArgument
from lookalike.common.labels import Payload
from lookalike.indexer.wire import batch_from
from lookalike.proto.v1 import lookalike_pb2 as pb
from tests.adversarial.test_label_sdk_properties import (
    GOOD_LABEL,
    KEY,
    LABEL_TEXT,
    NUMBER,
    TEXT,
    TEXT_VALUE,
    client,  # noqa: F401 (fixture)
    model_label_ok,
    model_text_ok,
)

VALUE = st.one_of(NUMBER, TEXT_VALUE, st.sampled_from([float("nan"), "", "\x07"]))
EDIT = st.builds(
    ImageEdit, id=st.one_of(st.sampled_from(["a", "b", "c"]), TEXT),
    labels=st.none() | st.lists(LABEL_TEXT, max_size=3),
    add_labels=st.lists(LABEL_TEXT, max_size=2), remove_labels=st.lists(LABEL_TEXT, max_size=2),
    attributes=st.none() | st.dictionaries(KEY, VALUE, max_size=2),
    set_attributes=st.dictionaries(KEY, VALUE, max_size=2),
    clear_attributes=st.lists(st.one_of(KEY, TEXT), max_size=2))


def model_value_ok(value: object) -> bool:
    if isinstance(value, float):
        return value == value
    return isinstance(value, str) and model_text_ok(value) and len(value) <= 1024


def model_edit_ok(e: ImageEdit) -> bool:
    """The rules of one edit, written plainly."""
    import re

    key = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
    adds = list(e.labels) if e.labels is not None else list(e.add_labels)
    sets = e.attributes if e.attributes is not None else e.set_attributes
    try:  # an id is any non-empty text UTF-8 can carry (control characters too)
        if not e.id.encode("utf-8"):
            return False
    except UnicodeEncodeError:
        return False
    if e.labels is not None and (e.add_labels or e.remove_labels):
        return False
    if e.attributes is not None and (e.set_attributes or e.clear_attributes):
        return False
    if not all(model_label_ok(x) for x in adds + list(e.remove_labels)):
        return False
    if not all(key.fullmatch(k) for k in list(sets) + list(e.clear_attributes)):
        return False
    if not all(model_value_ok(v) for v in sets.values()):
        return False
    added = {x.strip() for x in adds}
    if added & {x.strip() for x in e.remove_labels} or set(sets) & set(e.clear_attributes):
        return False
    return bool(added or e.remove_labels or sets or e.clear_attributes
                or e.labels is not None or e.attributes is not None)


@settings(max_examples=400, deadline=None)
@given(st.lists(EDIT, min_size=1, max_size=3),
       st.dictionaries(st.integers(-2, 5), st.one_of(LABEL_TEXT, st.just("")), max_size=2))
def test_an_edit_is_accepted_exactly_when_the_model_says_and_read_back_the_same(edits, names):
    ids = [e.id for e in edits]
    ok = (all(model_edit_ok(e) for e in edits) and len(set(ids)) == len(ids)
          and all(c >= 0 and (not n.strip() and model_text_ok(n) or model_label_ok(n))
                  for c, n in names.items()))
    try:
        [request] = update_many_requests(edits, names, False, False, 32 << 20)
    except InvalidArgument:
        assert not ok, edits
        return
    assert ok, edits
    read, read_names = batch_from(pb.UpdateManyRequest.FromString(request.SerializeToString()))
    assert [r.id for r in read] == ids
    assert read_names == {c: n for c, n in names.items()}
    for edit, (_, change) in zip(edits, read, strict=True):
        before = Payload(frozenset({"old", "keep"}), {"k": "v", "n": 1.0})
        after = change.apply(before)
        if edit.labels is not None:
            assert after.labels == {x.strip() for x in edit.labels}
        else:
            assert after.labels == ((before.labels - {x.strip() for x in edit.remove_labels})
                                    | {x.strip() for x in edit.add_labels})
        want = ({} if edit.attributes is not None else {
            k: v for k, v in before.attributes.items() if k not in edit.clear_attributes})
        want.update({k: float(v) if not isinstance(v, str) else v for k, v in (
            edit.attributes if edit.attributes is not None else edit.set_attributes).items()})
        assert dict(after.attributes) == want


WIRE = st.text(st.characters(exclude_categories=("Cs",)), max_size=70)  # any wire text
RAW_EDIT = st.builds(
    pb.ImageEdit, id=WIRE, add_labels=st.lists(WIRE, max_size=3),
    remove_labels=st.lists(WIRE, max_size=2),
    set_attributes=st.lists(st.builds(pb.Attribute, key=WIRE, value=st.one_of(
        st.builds(pb.Value), st.builds(pb.Value, text=WIRE),
        st.builds(pb.Value, number=st.floats()))), max_size=2),
    clear_attributes=st.lists(WIRE, max_size=2), replace_labels=st.booleans(),
    replace_attributes=st.booleans())


@settings(max_examples=400, deadline=None)
@given(st.lists(RAW_EDIT, max_size=3),
       st.lists(st.builds(pb.ClusterName, cluster=st.integers(-2**31, 2**31 - 1), name=WIRE),
                max_size=3))
def test_the_server_reads_any_batch_or_refuses_it_as_invalid_argument(edits, names):
    try:
        read, read_names = batch_from(pb.UpdateManyRequest(edits=edits, cluster_names=names))
    except InvalidArgument:
        return
    assert len(read) == len(edits) and len(read_names) <= len(names)


BATCH = st.lists(st.tuples(st.integers(0, 47), st.one_of(st.none(), st.frozensets(
    st.sampled_from(["cat", "dog", "a;b", "ünï"]), max_size=2)), st.one_of(
    st.none(), st.dictionaries(st.sampled_from(["p", "q"]), st.one_of(NUMBER, TEXT_VALUE),
                               max_size=2))), min_size=1, max_size=8,
    unique_by=lambda t: t[0]).filter(lambda b: all(t[1] is not None or t[2] is not None
                                                   for t in b))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(BATCH, st.dictionaries(st.integers(0, 3), GOOD_LABEL, max_size=2))
def test_random_batches_through_a_real_server_match_a_plain_model(client, batch, names):  # noqa: F811
    model = {i.id: (set(i.labels), dict(i.attributes)) for i in client.browse_all()}
    ids = sorted(model)
    edits = [ImageEdit(ids[n], labels=labels, attributes=attrs) for n, labels, attrs in batch]
    done = client.update_many(edits, names)
    changed = 0
    for n, labels, attrs in batch:
        before = (set(model[ids[n]][0]), dict(model[ids[n]][1]))
        if labels is not None:
            model[ids[n]] = (set(labels), model[ids[n]][1])
        if attrs is not None:
            model[ids[n]] = (model[ids[n]][0], {k: float(v) if not isinstance(v, str) else v
                                                for k, v in attrs.items()})
        changed += model[ids[n]] != before
    assert done.applied and (done.changed, done.unchanged) == (changed, len(batch) - changed)
    got = {i.id: (set(i.labels), dict(i.attributes)) for i in client.browse_all()}
    assert got == model
    info = client.info()
    for cluster, name in names.items():
        if cluster < info.clusters:
            assert info.cluster_names.get(cluster) == name.strip()

