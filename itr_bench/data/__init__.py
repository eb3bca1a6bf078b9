"""A dataset prepared once into the cache, and what identifies the data a run read.

``prepare`` (the Arrow cache), ``identity`` (the data's fingerprint), ``images`` (read/resize/
encode one image), ``text`` (words, vocabulary, shift), ``subset``, ``checks``, ``stats`` and
``cache_location``. Internal (see :mod:`itr_bench.layers`) except ``text``, which text encoder
plugins import. Feeding the cache to a loop is :mod:`itr_bench.feed`.
"""
