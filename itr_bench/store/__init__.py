"""What a run leaves on disk, and who may touch it (internal: see :mod:`itr_bench.layers`).

``atomic`` (all-or-nothing writes), ``files`` (damaged JSON as one line, writes kept inside the
root), ``locking`` (one owner per run folder), ``record`` (a run folder's file names and
``record.json``), ``record_ranges`` (the record's fields checked on read), ``per_query``
(``per_query.npz``), ``state`` (a folder against its planned config: done / todo / changed /
damaged) and ``failures`` (any exception of a run as one line).
"""
