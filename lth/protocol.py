"""Preregistered protocols of empirical claims and the amendment log that guards them.

An empirical claim (no certificate: a replication of a published measurement) is judged by a rule
fixed *before* its data are seen. :class:`Protocol` holds that rule in one place: the statistic,
the judged level(s) or widths, the margin with its justification, the seeds, the regimes and the
multiplicity correction. It is registered with the claim (``@claim(..., protocol=Protocol(...))``).

The protocol's :func:`digest` covers its text *and* the claim's parameter values at both scales (the
seeds, levels and margins the check actually uses), so no default can move without the digest
moving. Every record carries ``protocol`` and ``protocol_hash``.

``proofs/amendments.md`` is the log. Each registration or amendment is one ``### <claim id>``
entry holding a line ``- protocol: `<digest>` `` plus its date, reason and, for an amendment, the
verdict under the replaced protocol. The newest entry of a claim (the last one in the file) must
name the claim's current digest: :func:`unlogged` lists the claims whose digest changed without a new
entry, and a test fails on any of them. A change after seeing data is thus never silent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AMENDMENTS = Path(__file__).resolve().parent.parent / "proofs" / "amendments.md"
_ENTRY = re.compile(r"^### (?P<claim>\S+)(?P<body>.*?)(?=^### |\Z)", re.M | re.S)
_DIGEST = re.compile(r"^- protocol: `(?P<digest>[0-9a-f]{12})`", re.M)


@dataclass(frozen=True)
class Protocol:
    """The decision rule of an empirical claim, fixed before its data.

    Each field is prose a referee reads; the numbers in it must be those of the claim's parameters
    (the digest covers both, see :func:`digest`).
    """

    statistic: str  # what is computed per seed and how it is summarised (e.g. paired t-interval)
    levels: str  # the judged level(s), widths, k or regimes, and how they are chosen
    margin: str  # the margin and its justification (a published effect size or a practical difference)
    seeds: str  # how many seeds and why (power analysis from pilot standard deviations)
    correction: str  # the multiplicity correction (Holm over ...) or why none is needed
    regimes: str = "one regime"  # data sets / optimisers / architectures covered

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


def _canonical(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _canonical(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def digest(protocol: Protocol, quick: Any, full: Any) -> str:
    """12 hex digits of SHA-256 over the protocol text and the claim's quick and full parameters."""
    blob = json.dumps({"protocol": _canonical(protocol), "quick": _canonical(quick), "full": _canonical(full)},
                      sort_keys=True, default=repr)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def logged_digests(text: str | None = None) -> dict[str, list[str]]:
    """Claim id -> the protocol digests its log entries name, oldest first."""
    text = AMENDMENTS.read_text(encoding="utf-8") if text is None else text
    logged: dict[str, list[str]] = {}
    for entry in _ENTRY.finditer(text):
        found = _DIGEST.search(entry["body"])
        if found:
            logged.setdefault(entry["claim"], []).append(found["digest"])
    return logged


def unlogged(current: dict[str, str], text: str | None = None) -> dict[str, str]:
    """The claims (id -> current digest) whose newest log entry does not name their current digest."""
    logged = logged_digests(text)
    return {cid: d for cid, d in current.items() if not logged.get(cid) or logged[cid][-1] != d}
