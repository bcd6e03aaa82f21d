"""Checks that need the whole dataset, run once when every record has been seen."""

from __future__ import annotations

from keiko.datasets.bedrock import DEFAULT_MAX_RECORDS
from keiko.datasets.output import SplitWriter
from keiko.datasets.report import ErrorKind, Report, ReportBuilder, WarningKind, percentiles
from keiko.datasets.validator import ValidationOptions


def finish_report(report: Report, options: ValidationOptions, writer: SplitWriter | None = None) -> Report:
    """Add the checks that need the whole dataset and decide whether it is valid.

    With the `writer` that received the records, the split is balanced first, and the train and
    evaluation counts and the content hash come from it. Without one, the report's counts are used.
    """
    if writer is not None:
        writer.balance()
        report.train_records, report.eval_records = writer.train_records, writer.eval_records
        report.content_hash = writer.content_hash()
    builder = ReportBuilder.from_report(report)
    labels = report.label_counts
    if report.valid_records and labels:
        _check_label_balance(builder, labels)
    max_records = options.max_records or (DEFAULT_MAX_RECORDS if options.backend == "bedrock" else None)
    if max_records is not None and report.valid_records > max_records:
        builder.error(
            ErrorKind.BACKEND_LIMIT,
            None,
            None,
            f"{report.valid_records} records exceed the limit of {max_records} for {options.backend}; "
            "use fewer records or ask for a higher quota.",
        )
    if report.records == 0 and not report.errors_by_kind:
        builder.error(ErrorKind.EMPTY_DATASET, None, None, "the dataset has no records; upload a file with data.")
    elif report.valid_records and not builder.error_counts and not (report.train_records and report.eval_records):
        builder.error(ErrorKind.EMPTY_SPLIT, None, None, _empty_split_message(report, options))
    report = builder.build()
    report.stats.length_percentiles = percentiles(report.stats.length_histogram)
    report.valid = not report.errors_by_kind and report.valid_records > 0
    return report


def _check_label_balance(builder: ReportBuilder, labels: dict[str, int]) -> None:
    desirable, undesirable = labels.get("true", 0), labels.get("false", 0)
    total = desirable + undesirable
    minority = min(desirable, undesirable)
    if minority == 0:
        only = "true" if desirable else "false"
        builder.error(
            ErrorKind.LABEL_IMBALANCE,
            None,
            "label",
            f"every label is {only}; KTO needs both desirable (true) and undesirable (false) examples.",
        )
    elif minority / total < 0.1:
        builder.warning(
            WarningKind.LABEL_SKEW,
            None,
            "label",
            f"only {minority} of {total} labels are in the smaller class; set desirable_weight or "
            "undesirable_weight to balance them.",
        )


def _empty_split_message(report: Report, options: ValidationOptions) -> str:
    train, evaluation = report.train_records, report.eval_records
    distinct = train + evaluation
    empty = "evaluation" if evaluation == 0 else "train"
    plural = "" if distinct == 1 else "s"
    dropped = f" after dropping {report.stats.duplicates} duplicates" if report.stats.duplicates else ""
    if distinct < 2:
        remedy = "add more distinct records: at least two, one for each split."
    else:
        direction = "raise" if evaluation == 0 else "lower"
        remedy = f"add more distinct records or {direction} dataset.eval_fraction (now {options.eval_fraction})."
    return (
        f"the {empty} split has no records (train {train}, evaluation {evaluation}, from {distinct} distinct "
        f"record{plural}{dropped}); training needs records in both, so {remedy}"
    )
