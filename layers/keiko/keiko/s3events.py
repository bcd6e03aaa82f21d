"""Decode the events that can start a run into one `DatasetObject`.

Three shapes arrive at intake: EventBridge "Object Created" (`detail.object.key`), the S3 notification
(`Records[].s3.object.key`) and the schedule rule's "Scheduled Event", whose target input fills
`detail` with the dataset and recipe keys. S3 URL-encodes keys in both S3 shapes the way HTML forms do
(a space is `+`, a plus is `%2B`, non-ASCII is UTF-8 percent-encoded, `/` stays), so the key is decoded
exactly once, here. Keys in the schedule input are written by a person and are not encoded.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict

DATASETS_PREFIX = "datasets/"
# Longest first, so a name loses its whole extension (".jsonl.gz", not ".gz").
DATASET_EXTENSIONS = (".jsonl.gz", ".jsonl", ".json", ".csv", ".parquet", ".txt")
RECIPE_SUFFIXES = (".keiko.yaml", "/keiko.yaml")


class UnsupportedEvent(ValueError):
    """An event intake cannot read: neither an S3 Object Created event nor a keiko schedule event."""


class DatasetObject(BaseModel):
    """The S3 object a run trains on, with its key decoded."""

    model_config = ConfigDict(frozen=True)

    bucket: str
    key: str
    version_id: str | None = None
    size: int | None = None
    recipe_key: str | None = None
    trigger: str

    @property
    def is_folder_marker(self) -> bool:
        """True for the zero-byte `name/` object the S3 console creates for a folder."""
        return self.key.endswith("/") and not self.size

    @property
    def project(self) -> str:
        """The folder under `datasets/`; a dataset directly under `datasets/` has no project."""
        parts = self.key.removeprefix(DATASETS_PREFIX).split("/")
        return parts[0] if len(parts) > 1 else ""

    @property
    def name(self) -> str:
        """The file name without its extension."""
        file_name = self.key.rsplit("/", 1)[-1]
        for extension in DATASET_EXTENSIONS:
            if file_name.endswith(extension):
                return file_name.removesuffix(extension)
        return file_name

    def skip_reason(self) -> str | None:
        """Explain why this object starts no run, or return None when it is a dataset."""
        if self.is_folder_marker:
            return "console folder marker"
        if not self.key.startswith(DATASETS_PREFIX):
            return f"outside {DATASETS_PREFIX}"
        if self.key.endswith(RECIPE_SUFFIXES) or self.key.endswith((".yaml", ".yml")):
            return "recipe file"
        if not self.key.endswith(DATASET_EXTENSIONS):
            return f"not a dataset file (expected one of {', '.join(DATASET_EXTENSIONS)})"
        if not self.project:
            return "dataset must be in a project folder: datasets/<project>/<name>.jsonl"
        return None


def decode_key(encoded: str) -> str:
    """Decode an object key as S3 encodes it in event payloads."""
    return unquote_plus(encoded, encoding="utf-8", errors="strict")


def parse_start_event(event: Any) -> list[DatasetObject]:
    """Return every object an intake event refers to (S3 notifications can batch several records)."""
    if not isinstance(event, dict):
        raise UnsupportedEvent(f"expected a JSON object, got {type(event).__name__}")
    if "Records" in event:
        return [_from_notification_record(record) for record in event["Records"]]

    detail_type = event.get("detail-type")
    if detail_type == "Object Created":
        return [_from_eventbridge(event)]
    if detail_type == "Scheduled Event":
        return [_from_schedule(event)]
    raise UnsupportedEvent(
        f"unsupported event (detail-type {detail_type!r}): intake reads S3 Object Created events, "
        "S3 notifications and keiko schedule events"
    )


def _from_eventbridge(event: dict[str, Any]) -> DatasetObject:
    detail = event.get("detail") or {}
    obj = detail.get("object") or {}
    bucket = (detail.get("bucket") or {}).get("name")
    if not bucket or "key" not in obj:
        raise UnsupportedEvent("Object Created event lacks detail.bucket.name or detail.object.key")
    return DatasetObject(
        bucket=bucket,
        key=decode_key(obj["key"]),
        version_id=obj.get("version-id"),
        size=obj.get("size"),
        trigger="eventbridge",
    )


def _from_notification_record(record: dict[str, Any]) -> DatasetObject:
    s3 = record.get("s3") or {}
    obj = s3.get("object") or {}
    bucket = (s3.get("bucket") or {}).get("name")
    if not bucket or "key" not in obj:
        raise UnsupportedEvent("S3 notification record lacks s3.bucket.name or s3.object.key")
    return DatasetObject(
        bucket=bucket,
        key=decode_key(obj["key"]),
        version_id=obj.get("versionId"),
        size=obj.get("size"),
        trigger="s3-notification",
    )


def _from_schedule(event: dict[str, Any]) -> DatasetObject:
    detail = event.get("detail") or {}
    bucket = detail.get("bucket")
    key = detail.get("dataset_key")
    if not bucket or not key:
        raise UnsupportedEvent(
            "Scheduled Event lacks detail.bucket or detail.dataset_key: start runs from the keiko "
            "schedule rule, whose target input sets them"
        )
    return DatasetObject(
        bucket=bucket,
        key=key,
        recipe_key=detail.get("recipe_key") or None,
        trigger="schedule",
    )
