"""The reference models: the diabetes MLP (pure Python and numpy), its int8 edge variant, a
simulated accelerator, and a byte n-gram language model (:mod:`lesson.models.ngram`, the
generative engine's fast stand-in). Built on :mod:`lesson.core`; the pure-Python modules need
only the standard library, :mod:`lesson.models.mlp_numpy` needs numpy.
"""
