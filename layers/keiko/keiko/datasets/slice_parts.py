"""The records each ValidateDatasetSlice writes for MergeDatasetSlices, and duplicates across slices.

A slice drops the duplicates it finds and writes the rest to a train part and an eval part, each
record after its line number in the slice and a tab. A record that repeats a record of an earlier
slice is found only when MergeDatasetSlices reads the parts. Identical records always fall in the
same split, so reading the train parts, then the eval parts, each in slice order, meets the first
occurrence of every record first, as a single pass over the file does.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from itertools import accumulate

import orjson

from keiko.datasets.digests import DigestSet, digest
from keiko.datasets.report import EXAMPLES_PER_KIND, Example, Report, WarningKind
from keiko.datasets.stream import iter_line_batches
from keiko.datasets.validator import DUPLICATE_MESSAGE

TRAIN, EVAL = 1, 2  # positions of the train and eval parts in `part_keys`


def part_keys(output_prefix: str, index: int) -> tuple[str, str, str]:
    """Return the keys of slice `index`'s report, train part and eval part."""
    base = f"{output_prefix}validation/slices/{index:05d}"
    return f"{base}.json", f"{base}-train.jsonl", f"{base}-eval.jsonl"


def part_lines(s3_client, bucket: str, key: str) -> Iterator[list[bytes]]:
    """Yield the lines of a part object in batches, streaming it in chunks."""
    body = s3_client.get_object(Bucket=bucket, Key=key)["Body"]
    # Every line is a record the slice already accepted, so no size cap applies here.
    yield from iter_line_batches(body.read, max_record_bytes=sys.maxsize)


class CrossSliceDuplicates:
    """Drops the records that repeat a record of an earlier slice, and counts them for the report."""

    def __init__(self, slice_reports: list[Report]) -> None:
        # The first file line of each slice is one more than the lines of the slices before it.
        self.line_offsets = list(accumulate((report.lines for report in slice_reports), initial=0))
        self.labelled = any(report.label_counts for report in slice_reports)
        self.seen = DigestSet()
        self.dropped = {TRAIN: 0, EVAL: 0}
        self.example_lines: dict[int, list[int]] = {TRAIN: [], EVAL: []}
        self.dropped_labels: dict[str, int] = {}

    def keep(self, index: int, split: int, numbered: list[bytes]) -> list[bytes]:
        """Return the records of `numbered`, lines of slice `index`'s `split` part, that no
        earlier slice has, without their line numbers."""
        pairs = [line.partition(b"\t") for line in numbered]
        records = [record for _, _, record in pairs]
        repeated = self.seen.add_all(list(map(digest, records)))
        if not repeated:
            return records
        self.dropped[split] += len(repeated)
        examples = self.example_lines[split]
        for position in repeated[: EXAMPLES_PER_KIND - len(examples)]:
            examples.append(self.line_offsets[index] + int(pairs[position][0]))
        if self.labelled:
            for position in repeated:
                label = "true" if orjson.loads(records[position])["label"] else "false"
                self.dropped_labels[label] = self.dropped_labels.get(label, 0) + 1
        dropped = set(repeated)
        return [record for position, record in enumerate(records) if position not in dropped]

    @property
    def count(self) -> int:
        return self.dropped[TRAIN] + self.dropped[EVAL]

    def add_to(self, report: Report) -> None:
        """Count the duplicates found across slices in the merged report, with the first examples
        in file order. The train and eval counts are left to the caller."""
        if not self.count:
            return
        kind = WarningKind.DUPLICATES_DROPPED
        report.stats.duplicates += self.count
        report.warnings_by_kind[kind] = report.warnings_by_kind.get(kind, 0) + self.count
        for label, count in self.dropped_labels.items():
            report.label_counts[label] -= count
        found = [Example(kind=kind, line=line, message=DUPLICATE_MESSAGE) for line in self._lines()]
        earlier = [example for example in report.warnings if example.kind == kind]
        others = [example for example in report.warnings if example.kind != kind]
        first = sorted(earlier + found, key=lambda example: example.line or 0)[:EXAMPLES_PER_KIND]
        report.warnings = others + first

    def _lines(self) -> list[int]:
        return self.example_lines[TRAIN] + self.example_lines[EVAL]
