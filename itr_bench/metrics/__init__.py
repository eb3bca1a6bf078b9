"""Retrieval metrics as pure functions of the scores (internal: see :mod:`itr_bench.layers`).

``ranks`` (each query's first correct match, both protocols, COCO folds), ``declarations``
(every metric declared once: how it is computed, which way is better, its leaderboard form) and
``collapse`` (effective rank and near-duplicate share of embeddings). A new metric is one
``Metric`` in ``declarations.DECLARED``.
"""
