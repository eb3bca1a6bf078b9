"""Prepared splits fed to a training or evaluation loop (internal: see :mod:`itr_bench.layers`).

``placement`` (on the device or streamed, from the free memory), ``device`` (a split as one
tensor, augmented in batches), ``streaming`` and ``slots`` (worker processes decoding the cache
into shared memory), ``cached`` (a torch Dataset over the cache), ``transforms`` (augmentations
by name), ``samplers`` (which pairs an epoch visits), ``negatives`` (a registered sampler's
negative per anchor) and ``feeding`` (the batches a run trains on and the test images it scores).
See docs/feeding.md.
"""
