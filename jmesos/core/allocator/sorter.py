"""The fair-share ordering, kept apart from the offer mechanics (Mesos's ``Sorter``).

An allocation round asks one question per agent, thousands of times: *which
client comes first in fair-share order among those allowed on this agent?*
Sorting all frameworks for every agent would be far too slow in Python at the
paper's scale, so :class:`Sorter` keeps clients always sorted by their key and
answers that question with bit arithmetic.

Every client carries a bitmask (a framework: one bit, its *slot*; a role: the
bits of its member frameworks; masks of different clients never overlap).  A
query is a mask of the frameworks allowed on the agent (not filtered,
not suppressed, ...).  Clients live in sorted blocks of at most ``BLOCK``
entries, each block remembering the union of its clients' masks, so
:meth:`Sorter.first` skips a whole block of filtered clients with one ``&``.
The cost per query is at most ``n / BLOCK + BLOCK`` steps instead of ``n``,
and a change of one client's key costs two bisections.

Keys are any comparable values, unique per client (the built-in policies end
them with the client's name or slot, which breaks ties deterministically).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Hashable, Iterator
from typing import Any

__all__ = ["Sorter"]

BLOCK = 32


class Sorter:
    """Clients sorted by key, each with a bitmask; find the first client whose mask meets a query."""

    __slots__ = ("_blocks", "_maxes", "_bmask", "_key", "_mask")

    def __init__(self) -> None:
        #: sorted blocks of ``(key, client)``; every block non-empty
        self._blocks: list[list[tuple[Any, Hashable]]] = []
        #: the last (largest) key of each block, for bisection
        self._maxes: list[Any] = []
        #: the union of the masks of each block's clients
        self._bmask: list[int] = []
        self._key: dict[Hashable, Any] = {}
        self._mask: dict[Hashable, int] = {}

    # -- membership -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._key)

    def __contains__(self, client: Hashable) -> bool:
        return client in self._key

    def key(self, client: Hashable) -> Any:
        """The key ``client`` is sorted by."""
        return self._key[client]

    def mask(self, client: Hashable) -> int:
        return self._mask[client]

    def add(self, client: Hashable, key: Any, mask: int) -> None:
        """Add ``client`` at ``key`` with bitmask ``mask``."""
        if client in self._key:
            raise KeyError(f"client {client!r} is already sorted; use update()")
        self._key[client] = key
        self._mask[client] = mask
        entry = (key, client)
        maxes = self._maxes
        if not maxes:
            self._blocks.append([entry])
            maxes.append(key)
            self._bmask.append(mask)
            return
        i = bisect_left(maxes, key)
        if i == len(maxes):
            i -= 1
            maxes[i] = key
        block = self._blocks[i]
        insort(block, entry)
        self._bmask[i] |= mask
        if len(block) > 2 * BLOCK:
            self._split(i)

    def remove(self, client: Hashable) -> None:
        """Take ``client`` out of the order."""
        key = self._key.pop(client)
        mask = self._mask.pop(client)
        i = self._find_block(key)
        block = self._blocks[i]
        j = bisect_left(block, (key, client))
        del block[j]
        if not block:
            del self._blocks[i], self._maxes[i], self._bmask[i]
            return
        self._bmask[i] &= ~mask
        if j == len(block):
            self._maxes[i] = block[-1][0]

    def update(self, client: Hashable, key: Any) -> None:
        """Move ``client`` to ``key`` (a no-op when the key is unchanged)."""
        old = self._key[client]
        if old == key:
            return
        # fast path: the new key still sits between the client's neighbours, so it keeps its place
        i = self._find_block(old)
        blocks = self._blocks
        block = blocks[i]
        j = bisect_left(block, (old, client))
        entry = (key, client)
        if j > 0:
            lo_ok = block[j - 1] < entry
        else:
            lo_ok = i == 0 or blocks[i - 1][-1] < entry
        if lo_ok:
            last = j + 1 == len(block)
            if not last:
                hi_ok = entry < block[j + 1]
            else:
                hi_ok = i + 1 == len(blocks) or entry < blocks[i + 1][0]
            if hi_ok:
                block[j] = entry
                self._key[client] = key
                if last:
                    self._maxes[i] = key
                return
        mask = self._mask[client]
        self.remove(client)
        self.add(client, key, mask)

    def set_mask(self, client: Hashable, mask: int) -> None:
        """Change ``client``'s bitmask (a role gaining or losing a framework)."""
        old = self._mask[client]
        if old == mask:
            return
        self._mask[client] = mask
        i = self._find_block(self._key[client])
        self._bmask[i] = (self._bmask[i] & ~old) | mask

    # -- queries ----------------------------------------------------------------------
    def first(self, query: int) -> Hashable | None:
        """The first client in order whose mask shares a bit with ``query`` (None if none does)."""
        bmask = self._bmask
        for i in range(len(bmask)):
            if bmask[i] & query:
                masks = self._mask
                for _key, client in self._blocks[i]:
                    if masks[client] & query:
                        return client
        return None

    def __iter__(self) -> Iterator[Hashable]:
        """Clients in order, first first."""
        for block in self._blocks:
            for _key, client in block:
                yield client

    def items(self) -> Iterator[tuple[Hashable, Any]]:
        """``(client, key)`` pairs in order."""
        for block in self._blocks:
            for key, client in block:
                yield client, key

    def head(self, n: int) -> list[Hashable]:
        """The first ``n`` clients in order."""
        out: list[Hashable] = []
        for block in self._blocks:
            out.extend([c for _k, c in block[: n - len(out)]])
            if len(out) >= n:
                break
        return out

    def position(self, client: Hashable) -> int:
        """``client``'s 0-based place in the order."""
        key = self._key[client]
        i = self._find_block(key)
        return sum(len(b) for b in self._blocks[:i]) + bisect_left(self._blocks[i], (key, client))

    # -- internals --------------------------------------------------------------------
    def _find_block(self, key: Any) -> int:
        i = bisect_left(self._maxes, key)
        return i if i < len(self._maxes) else len(self._maxes) - 1

    def _split(self, i: int) -> None:
        block = self._blocks[i]
        half = len(block) // 2
        left, right = block[:half], block[half:]
        masks = self._mask
        lm = 0
        for _k, c in left:
            lm |= masks[c]
        rm = 0
        for _k, c in right:
            rm |= masks[c]
        self._blocks[i : i + 1] = [left, right]
        self._maxes[i : i + 1] = [left[-1][0], right[-1][0]]
        self._bmask[i : i + 1] = [lm, rm]

    def check(self) -> None:
        """Verify the internal invariants (for tests)."""
        flat = [e for b in self._blocks for e in b]
        assert flat == sorted(flat), "blocks out of order"
        assert len(flat) == len(self._key)
        for b, m, bm in zip(self._blocks, self._maxes, self._bmask, strict=True):
            assert b and b[-1][0] == m
            u = 0
            for k, c in b:
                assert self._key[c] == k
                u |= self._mask[c]
            assert u == bm, "block mask stale"
