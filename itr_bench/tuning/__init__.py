"""Equal-budget tuning (``itr-bench tune``): every run of a suite searched alike on validation.

:mod:`.space` reads a suite's ``[tune]`` table and each run's space; :mod:`.study` keeps the
Optuna studies (one per dataset and run) safe to share between processes; :mod:`.search` runs
one run's trials; :mod:`.execute` runs the searches in one process, several, or on Ray;
:mod:`.final` retrains the best settings on the suite's seeds; :mod:`.report` writes the tuned
leaderboard; :mod:`.plan` ties them together for the command. See docs/tuning.md.
Internal: see :mod:`itr_bench.layers`.
"""
