"""Rows that set the same record (the same slug; the same cell and moment), found
in fixed memory."""

from collections.abc import Hashable
from typing import TYPE_CHECKING, BinaryIO

from .files import records
from .report import Report

if TYPE_CHECKING:
    from .rows import Kind


class SeenKeys:
    """Which row keys came before, in fixed memory.

    A Bloom filter (2**24 bits, 2 MiB) answers "maybe" or "no"; the maybes are
    checked exactly by reading the file once more, so a false "maybe" costs a read,
    never a false error. Past `MAYBE_MAX` maybes the file is too big to check.
    """

    BITS = 1 << 24
    MAYBE_MAX = 50_000

    def __init__(self):
        self.bits = bytearray(self.BITS // 8)
        self.maybe: set[Hashable] = set()
        self.overflow = False

    def add(self, key: Hashable) -> None:
        # Four positions from one 64-bit hash (Kirsch-Mitzenmacher double hashing);
        # str hashes are salted per process, and both reads run in this one.
        number = hash(key)
        step = (number >> 32) | 1
        seen = True
        for i in range(4):
            position = (number + i * step) & (self.BITS - 1)
            byte, bit = position >> 3, 1 << (position & 7)
            if not self.bits[byte] & bit:
                seen = False
                self.bits[byte] |= bit
        if seen:
            if len(self.maybe) < self.MAYBE_MAX:
                self.maybe.add(key)
            else:
                self.overflow = True


def duplicates_find(
    file: BinaryIO, kind: "Kind", report: Report, seen: SeenKeys
) -> None:
    """Read again for the keys the filter may have seen twice; report each repeat."""
    first_line = {}
    # A row already listed as bad is not listed again for its key.
    listed = {bad.line for bad in report.kept}
    for line, row in records(file, kind, Report(0)):
        column, key = kind.key(row)
        if key not in seen.maybe:
            continue
        if key in first_line:
            if line not in listed:
                report.add(
                    line,
                    column,
                    f"Repeats line {first_line[key]}.",
                    row.get(column, ""),
                )
        else:
            first_line[key] = line
    if seen.overflow:
        report.add(0, "", "Too many rows to check for repeats: split the file.")
