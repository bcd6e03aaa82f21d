"""Dataset validation: check a training dataset against its method's formats before anything is paid for.

The same code runs in the ValidateDataset Lambda function (`validate_s3_dataset`, and the slice
functions for a Distributed Map over large files) and on a laptop (`validate_path`, `keiko validate`).
"""

from keiko.datasets.dataset_checks import finish_report
from keiko.datasets.local import validate_path, validate_stream
from keiko.datasets.markdown import render_markdown
from keiko.datasets.report import ErrorKind, Report, WarningKind, merge_reports
from keiko.datasets.s3 import (
    ValidationSummary,
    merge_s3_slices,
    plan_slices,
    validate_s3_dataset,
    validate_s3_slice,
)
from keiko.datasets.validator import ValidationOptions

__all__ = [
    "ErrorKind",
    "Report",
    "ValidationOptions",
    "ValidationSummary",
    "WarningKind",
    "finish_report",
    "merge_reports",
    "merge_s3_slices",
    "plan_slices",
    "render_markdown",
    "validate_path",
    "validate_s3_dataset",
    "validate_s3_slice",
    "validate_stream",
]
