"""Errors whose class names the state machine's Retry and Catch rules match.

Lambda reports a raised exception as `errorType` = the class name, so keep these names stable: they are
part of statemachines/lifecycle.asl.json and of what a user sees in a FAILED run record.
"""


class KeikoError(Exception):
    """Base class of every error a lifecycle stage raises on purpose."""


class TransientError(KeikoError):
    """A dependency was throttled or briefly unavailable after the SDK's own retries; the state retries."""


class InvalidStageInput(KeikoError):
    """A state passed a payload that does not match the stage's input model."""


class TrainingJobSubmissionFailed(KeikoError):
    """SageMaker rejected a CreateTrainingJob request."""


class EvaluationMetricsMissing(KeikoError):
    """An evaluation job finished but its model.tar.gz contains no readable metrics.json."""


class BedrockRequestFailed(KeikoError):
    """A Bedrock Converse request failed in a way a retry will not fix."""


class JudgeFoundNoPairs(KeikoError):
    """The AI judge produced no usable chosen/rejected pair, so preference training has no data."""


class RegistrationFailed(KeikoError):
    """SageMaker Model Registry rejected the model package."""
