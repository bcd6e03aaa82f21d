"""PlanValidation: choose one pass or parallel byte ranges for validating the dataset."""

from keiko import stages
from keiko.observability import bind_run_id, logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@bind_run_id
def lambda_handler(event, context):
    return stages.plan_validation(event)
