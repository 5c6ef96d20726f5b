"""The pytest plugin of lth-toolkit, loaded through the ``pytest11`` entry point wherever it is installed.

It gives a user's own test suite what this repository's tests use:

* the ``claim`` marker: ``@pytest.mark.claim("my.bound")`` ties a test to a registered claim (the audit,
  :func:`lth.testing.assert_claims_linked`, reads these marks); registered here unless the suite's own
  configuration declares it already, so ``--strict-markers`` accepts it either way;
* ``--lth-device auto|cpu|cuda`` (default ``auto``: CUDA when present) and ``--lth-seed N`` (default 0);
* fixtures ``lth_device`` (a ``torch.device``; a requested CUDA device that is missing is an error, never a
  silent CPU run) and ``lth_generator`` (a ``torch.Generator`` on that device seeded with ``--lth-seed``,
  fresh for every test). Inside ``@given`` tests draw seeds (:func:`lth.testing.seeds`) instead: one
  generator shared by all generated examples would make each example depend on the ones before it.

torch is imported by the fixtures only, so a suite that uses none of them does not pay for it.
"""

from __future__ import annotations

import pytest

from lth.validate import DEVICE_CHOICES

CLAIM_MARKER = "claim(id): the test checks the registered claim with this id"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lth", "lth-toolkit")
    group.addoption("--lth-device", default="auto", choices=DEVICE_CHOICES,
                    help="device of the lth_device and lth_generator fixtures (auto: CUDA when present)")
    group.addoption("--lth-seed", type=int, default=0, help="seed of the lth_generator fixture (default 0)")


def declared_markers(config: pytest.Config) -> set[str]:
    """Names of the markers the configuration declares (``name(args): help`` lines)."""
    return {line.split(":")[0].split("(")[0].strip() for line in config.getini("markers")}


def pytest_configure(config: pytest.Config) -> None:
    if "claim" not in declared_markers(config):
        config.addinivalue_line("markers", CLAIM_MARKER)


@pytest.fixture
def lth_device(request: pytest.FixtureRequest):
    """The ``torch.device`` chosen by ``--lth-device``."""
    from lth.theory.device import resolve_device

    return resolve_device(request.config.getoption("lth_device"))


@pytest.fixture
def lth_generator(request: pytest.FixtureRequest, lth_device):
    """A ``torch.Generator`` on ``lth_device`` seeded with ``--lth-seed``: the same draws in every run."""
    from lth.theory.device import generator

    return generator(request.config.getoption("lth_seed"), lth_device)
