"""Shared test set-up: hypothesis profiles, the claim marker, devices."""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

# ci: derandomized, so CI runs the same examples every time; dev: random, more examples.
# The function-scoped fixtures used with @given (e.g. `device`) are immutable values, so sharing
# them across generated inputs is safe.
settings.register_profile("ci", derandomize=True, max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# The CLI's refusal catalogue (lth.validate) is a cache in the user's home by default; the suite
# keeps its own in a temporary folder instead of writing there.
if "LTH_CACHE_DIR" not in os.environ:
    import tempfile

    os.environ["LTH_CACHE_DIR"] = tempfile.mkdtemp(prefix="lth-test-cache-")

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                 reason="no CUDA device"))]


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    """Runs a test on CPU, and again on CUDA when one is present."""
    return torch.device(request.param)
