"""Run records turned into leaderboards (internal: see :mod:`itr_bench.layers`).

``leaderboard`` (records -> CSV / Markdown / PNG), ``leaderboard_text`` (its plain-text cells),
``stats`` (intervals and paired tests over seeds), ``seed_configs`` (one row, one config) and
``query_bootstrap`` (the two-level bootstrap over seeds and test queries).
"""
