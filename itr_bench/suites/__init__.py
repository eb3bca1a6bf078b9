"""Suites: planned runs and the executors that run them (internal: see :mod:`itr_bench.layers`).

``plan`` expands a suite into runs x datasets x seeds against the store; ``executors`` trains
each planned run into its folder (in this process, or as Ray tasks) and says how each ended.
"""
