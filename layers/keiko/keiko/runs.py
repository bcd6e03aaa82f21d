"""The run table: one record per run, and one task-token item per waiting SageMaker job.

Both live in one DynamoDB table keyed by `pk`: `run#<run-id>` for runs and `job#<job-name>` for
tokens. Token items carry `expires_at` (epoch seconds), the table's TTL attribute, so tokens of
abandoned runs disappear.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from keiko.aws import client, error_code, raise_if_transient


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class RunStore:
    """Read and write run records and task tokens in the run table."""

    def __init__(self, table_name: str, dynamodb: Any | None = None) -> None:
        self.table_name = table_name
        self.dynamodb = dynamodb or client("dynamodb")

    def put_run(self, run_id: str, status: RunStatus, **fields: Any) -> None:
        """Create or replace the record of `run_id` with `status` and string/number `fields`."""
        item = {"pk": f"run#{run_id}", "run_id": run_id, "status": status.value, "updated_at": _now()}
        item.update({name: value for name, value in fields.items() if value is not None})
        self._put(item)

    def create_run(self, run_id: str, **fields: Any) -> bool:
        """Record a new RUNNING run; return False when the run id already has a record."""
        item = {
            "pk": f"run#{run_id}",
            "run_id": run_id,
            "status": RunStatus.RUNNING.value,
            "created_at": _now(),
            "updated_at": _now(),
        }
        item.update({name: value for name, value in fields.items() if value is not None})
        try:
            self._put(item, condition="attribute_not_exists(pk)")
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def finish_run(self, run_id: str, status: RunStatus, **fields: Any) -> None:
        """Set the final status of a run and any summary `fields` (error, cause, model package)."""
        self.update_run(run_id, status=status.value, finished_at=_now(), **fields)

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Set `fields` on the record of `run_id` (creating it if absent); None values are skipped."""
        values = {"run_id": run_id, "updated_at": _now()}
        values.update({name: value for name, value in fields.items() if value is not None})
        names = {f"#f{index}": name for index, name in enumerate(values)}
        expression = "SET " + ", ".join(f"#f{index} = :v{index}" for index in range(len(values)))
        try:
            self.dynamodb.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": f"run#{run_id}"}},
                UpdateExpression=expression,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={
                    f":v{index}": _to_attribute(value) for index, value in enumerate(values.values())
                },
            )
        except ClientError as exc:
            raise_if_transient(exc, f"UpdateItem on run {run_id}")
            raise

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        return self._get(f"run#{run_id}")

    def put_task_token(self, job_name: str, task_token: str, run_id: str, stage: str, ttl_days: int) -> None:
        """Store the task token a waiting state resumes with when `job_name` ends."""
        self._put(
            {
                "pk": f"job#{job_name}",
                "job_name": job_name,
                "task_token": task_token,
                "run_id": run_id,
                "stage": stage,
                "created_at": _now(),
                "expires_at": int(time.time()) + ttl_days * 86400,
            }
        )

    def get_task_token(self, job_name: str) -> dict[str, Any] | None:
        return self._get(f"job#{job_name}")

    def claim_outcome(self, job_name: str, outcome: str) -> bool:
        """Record the job's terminal status once; return False when an earlier event already did."""
        try:
            self.dynamodb.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": f"job#{job_name}"}},
                UpdateExpression="SET outcome = :outcome, finished_at = :now",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(outcome)",
                ExpressionAttributeValues={":outcome": {"S": outcome}, ":now": {"S": _now()}},
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise_if_transient(exc, f"UpdateItem on job {job_name}")
            raise
        return True

    def release_outcome(self, job_name: str) -> None:
        """Undo `claim_outcome`, so a redelivered event can resume the state after a failed send."""
        self.dynamodb.update_item(
            TableName=self.table_name,
            Key={"pk": {"S": f"job#{job_name}"}},
            UpdateExpression="REMOVE outcome, finished_at",
        )

    def _put(self, item: dict[str, Any], condition: str | None = None) -> None:
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Item": {name: _to_attribute(value) for name, value in item.items()},
        }
        if condition:
            request["ConditionExpression"] = condition
        try:
            self.dynamodb.put_item(**request)
        except ClientError as exc:
            raise_if_transient(exc, f"PutItem {item['pk']}")
            raise

    def _get(self, pk: str) -> dict[str, Any] | None:
        response = self.dynamodb.get_item(TableName=self.table_name, Key={"pk": {"S": pk}}, ConsistentRead=True)
        item = response.get("Item")
        return {name: _from_attribute(value) for name, value in item.items()} if item else None


_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def _to_attribute(value: Any) -> dict[str, Any]:
    # DynamoDB numbers must be Decimal in boto3; str() keeps the float's shortest exact form.
    return _SERIALIZER.serialize(Decimal(str(value)) if isinstance(value, float) else value)


def _from_attribute(attribute: dict[str, Any]) -> Any:
    value = _DESERIALIZER.deserialize(attribute)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value
