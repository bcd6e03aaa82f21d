"""S3 events for EventBridge in the shape Amazon S3 sends them.

Replaces `moto.s3.notifications._send_event_bridge_message`, which differs from AWS: it sends the key
unencoded, `eTag` for `etag`, `version-id` null on unversioned buckets, one fixed `sequencer` and
`reason` "ObjectCreated" for "PutObject". The shape follows the Amazon S3 user guide, "EventBridge
event message structure".
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from typing import Any
from urllib.parse import quote_plus

from .eventbridge import EventRouter, make_event

# S3 notification event name -> (detail-type, reason)
_EVENTS = {
    "s3:ObjectCreated:Put": ("Object Created", "PutObject"),
    "s3:ObjectCreated:Post": ("Object Created", "POST Object"),
    "s3:ObjectCreated:Copy": ("Object Created", "CopyObject"),
    "s3:ObjectCreated:CompleteMultipartUpload": ("Object Created", "CompleteMultipartUpload"),
    "s3:ObjectRemoved:Delete": ("Object Deleted", "DeleteObject"),
    "s3:ObjectRemoved:DeleteMarkerCreated": ("Object Deleted", "DeleteObject"),
    "s3:ObjectRestore:Post": ("Object Restore Initiated", None),
    "s3:ObjectRestore:Completed": ("Object Restore Completed", None),
    "s3:ObjectTagging:Put": ("Object Tags Added", None),
    "s3:ObjectTagging:Delete": ("Object Tags Deleted", None),
    "s3:ObjectAcl:Put": ("Object ACL Updated", None),
}

_SEQUENCE = itertools.count()
_SEQUENCE_LOCK = threading.Lock()


def encode_key(key: str) -> str:
    """Encode an object key as S3 writes it in events: form encoding (space is +), with / kept."""
    return quote_plus(key, safe="/")


def next_sequencer() -> str:
    """Return a hex sequencer that is greater than every earlier one from this process."""
    with _SEQUENCE_LOCK:
        return f"{time.time_ns() // 1000:014X}{next(_SEQUENCE) % 0x10000:04X}"


def object_event(account_id: str, bucket: Any, event_name: str, key: Any) -> dict[str, Any] | None:
    """Build the EventBridge event for one S3 notification, or None for an event S3 does not send."""
    # moto passes a (str, Enum) member, whose hash is its member name, not its value.
    event_name = str(getattr(event_name, "value", event_name))
    if event_name not in _EVENTS:
        return None
    detail_type, reason = _EVENTS[event_name]

    s3_object: dict[str, Any] = {"key": encode_key(key.name)}
    if detail_type == "Object Created":
        s3_object["size"] = key.size
        s3_object["etag"] = key.etag.strip('"')
    if bucket.is_versioned and key.version_id:
        s3_object["version-id"] = key.version_id
    if detail_type in ("Object Created", "Object Deleted"):
        s3_object["sequencer"] = next_sequencer()

    detail: dict[str, Any] = {
        "version": "0",
        "bucket": {"name": bucket.name},
        "object": s3_object,
        "request-id": uuid.uuid4().hex[:16].upper(),
        "requester": account_id,
        "source-ip-address": "127.0.0.1",
    }
    if reason:
        detail["reason"] = reason
    if event_name == "s3:ObjectRemoved:Delete":
        detail["deletion-type"] = "Permanently Deleted"
    elif event_name == "s3:ObjectRemoved:DeleteMarkerCreated":
        detail["deletion-type"] = "Delete Marker Created"

    return make_event("aws.s3", detail_type, detail, [bucket.arn], account_id, bucket.region_name)


def make_sender(router: EventRouter):
    """Return the replacement for moto's S3-to-EventBridge sender, bound to one router."""

    def send_event_bridge_message(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
        event = object_event(account_id, bucket, event_name, key)
        if event is not None:
            router.publish(event)

    return send_event_bridge_message
