"""One module per family of training methods; each builds a TRL trainer for a `Job`."""
