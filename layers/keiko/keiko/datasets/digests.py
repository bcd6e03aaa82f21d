"""Duplicate detection state: 64-bit digests of normalised records in a flat table.

A Python set of ints costs about 60-90 bytes per record (an int object plus a set slot). Here each
digest is 8 bytes in an open-addressing table kept at most two thirds full, so memory stays at
12-24 bytes per distinct record once the table outgrows its initial 512 KiB.
"""

from __future__ import annotations

from array import array

import xxhash

from keiko.datasets import accelerator

# Two records are duplicates when the xxh3-64 digests of their normalised JSON are equal.
# NOTE: two different records share a digest with probability about n**2 / 2**65 for n records
# (about 3e-8 for a million records). The later one is then dropped as a duplicate.
digest = xxhash.xxh3_64_intdigest

INITIAL_SLOTS = 1 << 16
REHASH_SLOTS = 1 << 12


class DigestSet:
    """A set of 64-bit digests with linear probing; the value 0 marks an empty slot."""

    def __init__(self) -> None:
        self.table = array("Q", [0]) * INITIAL_SLOTS
        self.count = 0
        self.add_in_c = accelerator.add_digests()

    def add_all(self, digests: list[int]) -> list[int]:
        """Add the digests in order; return the positions of those already present, earlier in the
        set or earlier in `digests`."""
        if (self.count + len(digests)) * 3 > len(self.table) * 2:
            self._grow(self.count + len(digests))
        if self.add_in_c is not None:
            repeated = self.add_in_c(self.table, digests)
            self.count += len(digests) - len(repeated)
            return repeated
        table = self.table
        mask = len(table) - 1
        repeated: list[int] = []
        for position, value in enumerate(digests):
            value = value or 1  # 0 marks an empty slot
            slot = value & mask
            while True:
                current = table[slot]
                if current == value:
                    repeated.append(position)
                    break
                if not current:
                    table[slot] = value
                    break
                slot = (slot + 1) & mask
        self.count += len(digests) - len(repeated)
        return repeated

    def _grow(self, needed: int) -> None:
        slots = len(self.table)
        while needed * 3 > slots * 2:
            slots *= 2
        old, self.table = self.table, array("Q", [0]) * slots
        if self.add_in_c is not None:
            # In slices, so that the Python ints of the old table never all exist at once.
            for start in range(0, len(old), REHASH_SLOTS):
                self.add_in_c(self.table, [value for value in old[start : start + REHASH_SLOTS] if value])
            return
        mask = slots - 1
        table = self.table
        for value in old:
            if value:
                slot = value & mask
                while table[slot]:
                    slot = (slot + 1) & mask
                table[slot] = value
