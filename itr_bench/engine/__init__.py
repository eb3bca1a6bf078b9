"""Training and evaluation machinery: stages, evaluation, checkpoints, data parallelism.

Internal: see :mod:`itr_bench.layers`.
"""
