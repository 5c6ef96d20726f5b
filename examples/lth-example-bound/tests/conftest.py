"""Hypothesis settings of this package's suite: derandomized, so CI runs the same examples every time, and
no per-example deadline (the first call of a subset-sum solver compiles its kernel)."""

from hypothesis import settings

settings.register_profile("example-ci", derandomize=True, max_examples=25, deadline=None)
settings.load_profile("example-ci")
