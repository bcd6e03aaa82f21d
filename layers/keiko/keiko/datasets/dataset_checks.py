"""Checks that need the whole dataset, run once when every record has been seen."""

from __future__ import annotations

from keiko.datasets.bedrock import DEFAULT_MAX_RECORDS
from keiko.datasets.report import ErrorKind, Report, ReportBuilder, WarningKind, percentiles
from keiko.datasets.validator import ValidationOptions


def finish_report(report: Report, options: ValidationOptions) -> Report:
    """Add the checks that need the whole dataset and decide whether it is valid."""
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
