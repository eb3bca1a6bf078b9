"""Training and evaluation machinery: stages, evaluation, checkpoints, data parallelism."""
