"""Parameter fields and their declared domains, without torch.

:func:`param` makes a field of a claim's parameter dataclass (default, help text and optionally the
domain its statement covers); :func:`domains` reads the declared domains back. The domains are types
of :mod:`lth.validate` (so the catalogue can store them and ``lth verify --param`` refuses a value
outside one in one line): :data:`OPEN_UNIT` for ε, δ, confidences and other probabilities,
:data:`POSITIVE` for tolerances and scales that must be > 0, :data:`COUNT` for counts that must be at
least 1 (trials, pool sizes, points). :mod:`lth.registry` re-exports them for the check modules.

Nothing here imports torch: parameter dataclasses that a command reads before any work (those of
``lth simulate basin`` in :mod:`lth.basin_params`) are built from this module alone.
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Any, Callable

from lth.validate import describe_type, finite_float, positive_int

# The domain of the theorems' ε and δ (most of them prove nothing outside it), and of confidences and
# other probabilities.
OPEN_UNIT = finite_float(0, 1, lo_open=True, hi_open=True)
POSITIVE = finite_float(0, lo_open=True)  # tolerances, margins and scales that must be > 0
COUNT = positive_int  # trials, pool sizes, points, steps: integers >= 1


def param(default: Any, help: str, *, domain: Callable[[str], Any] | None = None) -> Any:
    """A parameter field with help text (shown by ``lth list --params``).

    ``domain`` declares the values the claim's statement covers (its hypotheses, e.g. :data:`OPEN_UNIT` for
    an ε the theorem takes in (0, 1)), as a type of :mod:`lth.validate` (each element of a tuple must
    pass it); ``lth verify --param`` and :meth:`lth.registry.Claim.parameters` refuse other values before
    any work. Without it, the generic rule of :func:`lth.validate.field_type` applies on the command line.
    A domain only judges values: it is not part of a parameter's value, so it leaves protocol digests and
    settings hashes as they were.
    """
    if isinstance(default, (list, dict, set)):
        raise TypeError("parameters must be immutable: use a tuple")
    if domain is not None:
        describe_type(domain)  # NotDescribable (a ValueError) for a type of the claim's own: the catalogue stores it
    return field(default=default, metadata={"help": help, **({"domain": domain} if domain else {})})


def domains(kind: type) -> dict[str, Callable[[str], Any]]:
    """The declared domains (:func:`param`) of the fields of the dataclass ``kind``, by field name."""
    return {f.name: f.metadata["domain"] for f in dataclasses.fields(kind) if "domain" in f.metadata}
