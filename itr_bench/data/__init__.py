"""Data helpers shared by every dataset and encoder plugin.

``text`` (words, vocabulary, shift), ``images`` (read/resize/encode one image), ``transforms``
(augmentations by name), ``samplers`` (the paper's epoch, P x K identity batches), ``prepare``
(the Arrow cache), ``cached`` (a torch Dataset over it), ``device`` (the whole set as one
tensor, augmented in batches), ``streaming`` (worker processes decoding the cache, for splits
too large for the device), ``placement`` (which of the two, from the free memory), ``subset``
and ``stats``.
"""
