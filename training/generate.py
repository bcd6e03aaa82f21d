"""Sample responses for the preference loop; SageMaker runs this file as `sagemaker_program`."""

import sys

from keiko_training.entry import run
from keiko_training.generate import generate

if __name__ == "__main__":
    sys.exit(run(generate, sys.argv[1:]))
