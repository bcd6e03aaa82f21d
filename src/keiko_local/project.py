"""Steps that follow `sam deploy` for keiko's own template, done here for the emulated account."""

from __future__ import annotations

from keiko.packaging import build_training_sourcedir

from .account import LocalAccount


def upload_training_code(account: LocalAccount) -> str:
    """Upload the training code archive to the key the template's jobs read; return its S3 URI.

    On AWS this is the step after `sam deploy` that docs/operations.md describes. The archive is
    byte-for-byte reproducible, so uploading it again changes nothing but the object version.
    """
    bucket = account.resource("DataBucket").physical_id
    key = account.outputs["TrainingCodeUri"].removeprefix(f"s3://{bucket}/")
    account.client("s3").put_object(Bucket=bucket, Key=key, Body=build_training_sourcedir(account.project_root))
    return f"s3://{bucket}/{key}"
