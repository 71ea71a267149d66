"""Ids: what a given id may be, and how an id-less row is numbered without a collision."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from lookalike.common.errors import InvalidArgument

MAX_ID_CHARS = 4096


def is_text(row_id: object) -> bool:
    """Whether row_id can be stored at all: non-empty text that UTF-8 can encode."""
    try:
        return isinstance(row_id, str) and bool(row_id.encode("utf-8"))
    except UnicodeEncodeError:
        return False


def check_ids(ids: Sequence[str | None]) -> None:
    """Raises InvalidArgument for an empty, overlong or unstorable id (None: generate one)."""
    for row_id in ids:
        if row_id is None:
            continue
        if not isinstance(row_id, str) or not row_id or len(row_id) > MAX_ID_CHARS:
            raise InvalidArgument(
                f"an id must be text of 1 to {MAX_ID_CHARS} characters, got {row_id!r:.80}")
        if not is_text(row_id):
            raise InvalidArgument(f"the id {row_id!r:.80} is not valid UTF-8 text")


def number_rows(ids: Sequence[str | None], first: int,
                taken: Callable[[list[str]], Iterable[str]]) -> list[tuple[int, str]]:
    """(row number, id) per row, from row number `first` on.

    An id-less row gets its row number as its id, skipping any number whose text is already
    an id (taken() says which of some candidates are) or is given in this batch: a user who
    sent "302" never blocks the generated ids. Skipped row numbers are simply never used.
    """
    given = {i for i in ids if i is not None}
    seen: set[str] = set()
    checked = rowid = first  # numbers below `checked` have been looked up
    out = []
    for row_id in ids:
        while row_id is None:
            if rowid >= checked:
                window = [str(n) for n in range(checked, checked + max(len(ids), 64))]
                seen.update(taken(window))
                checked += len(window)
            if str(rowid) not in seen and str(rowid) not in given:
                break
            rowid += 1
        out.append((rowid, row_id if row_id is not None else str(rowid)))
        rowid += 1
    return out
