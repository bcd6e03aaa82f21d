"""Evaluate a candidate model against its base; SageMaker runs this file as `sagemaker_program`."""

import sys

from keiko_training.entry import run
from keiko_training.evaluate import evaluate

if __name__ == "__main__":
    sys.exit(run(evaluate, sys.argv[1:]))
