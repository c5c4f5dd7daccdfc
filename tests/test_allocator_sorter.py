"""The fair-share sorter: always sorted, and ``first(query)`` is the first client whose mask meets the query."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from jmesos.core.allocator import Sorter


def naive_first(keys: dict[int, float], masks: dict[int, int], query: int):
    for client in sorted(keys, key=lambda c: (keys[c], c)):
        if masks[client] & query:
            return client
    return None


def test_first_skips_clients_outside_the_query():
    s = Sorter()
    for slot, share in enumerate([0.5, 0.1, 0.3]):
        s.add(slot, (share, slot), 1 << slot)
    assert list(s) == [1, 2, 0]
    assert s.first(0b111) == 1
    assert s.first(0b101) == 2
    assert s.first(0b001) == 0
    assert s.first(0) is None
    s.update(1, (0.9, 1))
    assert list(s) == [2, 0, 1] and s.head(2) == [2, 0] and s.position(1) == 2
    s.remove(2)
    assert list(s) == [0, 1]
    s.check()


def test_role_masks_can_change():
    s = Sorter()
    s.add("a", (0.0, "a"), 0b0011)
    s.add("b", (0.1, "b"), 0b0100)
    assert s.first(0b0100) == "b"
    s.set_mask("a", 0b0111)
    assert s.first(0b0100) == "a"
    s.check()


ops = st.lists(
    st.tuples(st.sampled_from(["add", "remove", "update"]), st.integers(0, 150), st.integers(0, 20)),
    max_size=400,
)


@settings(max_examples=60, deadline=None)
@given(ops=ops, queries=st.lists(st.integers(0, 2**151 - 1), max_size=20))
def test_sorter_matches_a_naive_sort(ops, queries):
    s = Sorter()
    keys: dict[int, float] = {}
    for op, client, k in ops:
        key = k / 7
        if op == "add" and client not in keys:
            s.add(client, (key, client), 1 << client)
            keys[client] = key
        elif op == "remove" and client in keys:
            s.remove(client)
            del keys[client]
        elif op == "update" and client in keys:
            s.update(client, (key, client))
            keys[client] = key
    s.check()
    masks = {c: 1 << c for c in keys}
    assert list(s) == sorted(keys, key=lambda c: (keys[c], c))
    for q in queries + [-1, 0]:
        assert s.first(q) == naive_first(keys, masks, q)
    for c in keys:
        assert list(s)[s.position(c)] == c
