"""`KnownUidls.get`, `in` and `sizes.get` answer as a dict of the same rows would: stored rows, rows
added one by one (aliases, imports), and misses (every new message's UIDL) with any default."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tui.core.sync.known import KnownUidls

_UIDL = st.text(alphabet="abcXYZ019-_.", min_size=1, max_size=8)


@given(
    stored=st.dictionaries(
        _UIDL, st.tuples(st.integers(1, 10**6), st.booleans(), st.integers(0, 10**9))
    ),
    added=st.dictionaries(_UIDL, st.tuples(st.integers(1, 10**6), st.booleans())),
    asked=st.lists(_UIDL, max_size=12),
)
def test_get_answers_as_a_dict_of_the_same_rows(
    stored: dict[str, tuple[int, bool, int]],
    added: dict[str, tuple[int, bool]],
    asked: list[str],
) -> None:
    rows = [(mid, uidl, not still, size) for uidl, (mid, still, size) in stored.items()]
    known = KnownUidls.from_rows(rows)
    expected = {uidl: (mid, still) for uidl, (mid, still, _size) in stored.items()}
    sizes = {uidl: size for uidl, (_mid, _still, size) in stored.items()}
    for uidl, value in added.items():
        known.setdefault(uidl, value)
        expected.setdefault(uidl, value)
    extra_sizes = {uidl: 7 for uidl in added if uidl not in stored}
    known.sizes.update(extra_sizes)
    sizes.update(extra_sizes)
    for uidl in [*asked, *stored, *added]:
        assert (uidl in known) == (uidl in expected)
        assert known.get(uidl) == expected.get(uidl)
        assert known.get(uidl, (0, False)) == expected.get(uidl, (0, False))
        assert known.sizes.get(uidl) == sizes.get(uidl)
        assert known.sizes.get(uidl, -1) == sizes.get(uidl, -1)
