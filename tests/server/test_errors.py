"""server/errors.py's message cap: every message a caller gets fits in bytes of UTF-8."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lookalike.common.errors import NotFound
from lookalike.server.errors import CUT, MAX_MESSAGE_BYTES, message

TEXT = st.one_of(
    st.text(max_size=700),  # surrogates included: shown as escapes, never an encode error
    st.builds(lambda c, n: c * n, st.sampled_from(["😀", "€", "é", "x"]), st.integers(0, 900)),
)


@settings(max_examples=300, deadline=None)
@given(text=TEXT, limit=st.integers(16, MAX_MESSAGE_BYTES))
def test_a_message_fits_its_limit_in_bytes_cut_on_characters(text, limit):
    got = message(NotFound(text), limit)
    data = got.encode("utf-8")  # a lone surrogate left in would raise here
    assert len(data) <= limit
    shown = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(shown.encode()) <= limit:
        assert got == shown
    else:
        # a start of the message, the cut mark, an end of the message
        assert any(got[i : i + len(CUT)] == CUT and shown.startswith(got[:i])
                   and shown.endswith(got[i + len(CUT):]) for i in range(len(got)))
        assert len(data) > limit - 8  # at most a character's bytes lost at each cut


def test_a_long_quote_keeps_the_start_and_the_end_of_the_message():
    got = message(NotFound(f"no image with id {'😀' * 4000!r} in the collection"))
    assert got.startswith("no image with id '😀") and got.endswith("😀' in the collection")
    assert CUT in got and len(got.encode()) <= MAX_MESSAGE_BYTES
