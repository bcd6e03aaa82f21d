"""The patch guard: fails loudly, naming the method, when a moto internal the account relies on moves."""

from __future__ import annotations

import inspect

import boto3
import pytest
from moto import mock_aws

from keiko_local import patches
from keiko_local.patches import PATCH_POINTS, PatchPoint, PatchPointMoved, check_patch_point


@pytest.mark.parametrize("point", PATCH_POINTS, ids=lambda point: point.id)
def test_patch_point_matches_moto(point):
    assert check_patch_point(point) is None


def test_moved_method_is_named():
    moved = PatchPoint("moto.awslambda.models", "LambdaFunction", "_invoke_lambda", ("self", "event", "context"))

    problem = check_patch_point(moved)

    assert "moto.awslambda.models:LambdaFunction._invoke_lambda" in problem
    assert "signature changed" in problem


def test_missing_method_is_named():
    problem = check_patch_point(PatchPoint("moto.events.models", "Rule", "send_everywhere", ("self",)))

    assert problem == "moto.events.models:Rule.send_everywhere: missing from moto"


def test_added_method_already_in_moto_is_named():
    problem = check_patch_point(PatchPoint("moto.events.models", "Rule", "send_to_targets", None))

    assert "moto now defines it" in problem


def test_verify_lists_every_problem(monkeypatch):
    broken = (
        PatchPoint("moto.events.models", "Rule", "gone_one", ("self",)),
        PatchPoint("moto.events.models", "Rule", "gone_two", ("self",)),
    )
    monkeypatch.setattr(patches, "PATCH_POINTS", broken)

    with pytest.raises(PatchPointMoved, match="(?s)gone_one.*gone_two"):
        patches.verify_patch_points()


def test_attributes_read_from_moto_objects():
    """The moto objects the account reads and writes still carry the attributes it uses."""
    with mock_aws():
        # Given one training job and one rule created through moto's own API
        sagemaker = boto3.client("sagemaker", region_name="us-east-1")
        sagemaker.create_training_job(
            TrainingJobName="guard",
            AlgorithmSpecification={"TrainingImage": "image", "TrainingInputMode": "File"},
            RoleArn="arn:aws:iam::123456789012:role/r",
            OutputDataConfig={"S3OutputPath": "s3://b/out"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            StoppingCondition={"MaxRuntimeInSeconds": 60},
        )
        events = boto3.client("events", region_name="us-east-1")
        events.put_rule(Name="guard", EventPattern='{"source": ["x"]}')

        from moto.events.models import events_backends
        from moto.sagemaker.models import sagemaker_backends

        # Then the attributes the account uses are there
        job = sagemaker_backends["123456789012"]["us-east-1"].training_jobs["guard"]
        for name in (
            "training_job_name",
            "arn",
            "hyper_parameters",
            "algorithm_specification",
            "role_arn",
            "input_data_config",
            "output_data_config",
            "resource_config",
            "vpc_config",
            "stopping_condition",
            "checkpoint_config",
            "tags",
            "creation_time",
            "training_job_status",
            "secondary_status",
            "secondary_status_transitions",
            "final_metric_data_list",
            "model_artifacts",
            "training_start_time",
            "training_end_time",
            "last_modified_time",
        ):
            assert hasattr(job, name), f"moto FakeTrainingJob lost {name}"
        rule = events_backends["123456789012"]["us-east-1"].event_buses["default"].rules["guard"]
        for name in ("name", "arn", "state", "targets", "scheduled_expression", "event_pattern"):
            assert hasattr(rule, name), f"moto Rule lost {name}"
        assert callable(rule.event_pattern.matches_event)
        assert callable(rule.event_pattern.get_pattern)

    from moto.awslambda.models import LambdaFunction, LayerVersion

    lambda_init = inspect.getsource(LambdaFunction.__init__) + inspect.getsource(LayerVersion.__init__)
    for name in ("self.code =", "self.environment_vars =", "self.layers", "self.content ="):
        assert name in lambda_init, f"moto's Lambda models no longer set {name}"
