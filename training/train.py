"""Train a model with one of keiko's methods; SageMaker runs this file as `sagemaker_program`.

Local run: see docs/training-methods.md ("Run locally").
"""

import sys

from keiko_training.entry import relaunch_with_torchrun, run
from keiko_training.train import train

if __name__ == "__main__":
    relaunch_with_torchrun(__file__, sys.argv[1:])
    sys.exit(run(train, sys.argv[1:]))
