"""Committed records that no longer match their claim: stale unless declared in ``records/stale.json``.

A record under ``records/claims/<id>/`` was made with the claim's parameters and, for an empirical
claim, under its preregistered protocol. It is *stale* when

- its ``params_hash`` is not the hash the claim gives the same parameters today (``settings_hash`` of
  ``Claim.parameters(scale)``, or of the record's own parameters when they were not the defaults):
  a default changed, a parameter was added with a non-default value at that scale, or a scale's
  settings were retuned;
- its ``protocol_hash`` is not the claim's current ``protocol_digest`` (the protocol's text or its quick
  or full parameters changed: proofs/amendments.md says whether the verdict's rule changed);
- its claim is no longer registered.

A record known to be stale is listed in ``records/stale.json`` as ``{record path: {"params_hash" |
"protocol_hash": {"record": …, "current": …}, "reason": …}}``, the hashes as 12-hex prefixes. The
declaration pins the *current* hash it was written against, so the test fails on a new staleness
(an undeclared record, or a declared one whose claim changed again) and on a declaration that no
longer applies (the record was replaced or the claim changed back): the list stays the truth.
``python tests/test_record_staleness.py`` prints every stale record and whether it is declared.

Not checked: staleness of the *code* a record ran. A diff of the files a check imports between the
record's commit and HEAD is not a robust signal in this repository: commit 4a7d82c renamed every
import (``theory`` -> ``lth.theory`` …) without changing any computation, so every record would be
flagged, and telling such changes from real ones needs the check's import closure at both commits
and a comparison that ignores imports, docstrings and moves (the claim modules themselves moved
between directories). The parameter and protocol hashes are exact and cheap; a change of
computation at unchanged parameters is caught where it matters by the claims' own tests and by
rerunning ``lth verify --out records``, whose provenance records the commit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lth.manuscript import RECORDS_DIR
from lth.registry import all_claims
from lth.store import read_json, settings_hash

STALE_FILE = RECORDS_DIR / "stale.json"
HASH = 12  # the hashes are compared and declared as 12-hex prefixes


@dataclass(frozen=True)
class Staleness:
    """One way one record differs from its claim today: ``field`` is ``params_hash``,
    ``protocol_hash`` or ``claim`` (no longer registered); ``recorded`` and ``current`` its values."""

    record: str
    field: str
    recorded: str | None
    current: str | None


def _tuples(value: Any) -> Any:
    """A JSON value with its lists as tuples (the parameter dataclasses hold tuples)."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def current_params_hash(entry: Any, record: dict[str, Any]) -> str | None:
    """The hash the claim gives the record's parameters today (its defaults at the record's scale
    when the record used them); None when those parameters are no longer valid."""
    try:
        if record.get("default_params", True):
            return settings_hash(entry.parameters(record["scale"]))
        return settings_hash(entry.parameters(record["scale"], {k: _tuples(v) for k, v in record["params"].items()}))
    except (ValueError, TypeError) as invalid:
        return f"invalid ({invalid})"


def _short(digest: str | None) -> str | None:
    return None if digest is None else digest[:HASH]


def stale_records(records: Path = RECORDS_DIR) -> list[Staleness]:
    """Every difference between a committed claim record and its registered claim."""
    claims = all_claims()
    found = []
    for path in sorted(Path(records).glob("claims/*/*.json")):
        name = path.relative_to(Path(records).parent).as_posix()
        record = read_json(path)["record"]
        entry = claims.get(record["claim"])
        if entry is None:
            found.append(Staleness(name, "claim", record["claim"], None))
            continue
        current = current_params_hash(entry, record)
        if record["params_hash"] != current:
            found.append(Staleness(name, "params_hash", record["params_hash"], current))
        recorded, registered = _short(record.get("protocol_hash")), _short(entry.protocol_digest)
        if recorded != registered:
            found.append(Staleness(name, "protocol_hash", recorded, registered))
    return found


def declared(path: Path = STALE_FILE) -> dict[str, dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def undeclared(stale: list[Staleness], declarations: dict[str, dict[str, Any]]) -> list[Staleness]:
    """The stale records no declaration covers with the same recorded and current values."""
    def covered(s: Staleness) -> bool:
        entry = declarations.get(s.record, {}).get(s.field) or {}
        return entry.get("record") == s.recorded and entry.get("current") == s.current

    return [s for s in stale if not covered(s)]


def outdated(stale: list[Staleness], declarations: dict[str, dict[str, Any]]) -> list[str]:
    """Declarations of a staleness that is not there (any more): ``record: field``."""
    present = {(s.record, s.field) for s in stale}
    return [f"{record}: {field}" for record, entry in declarations.items() for field in entry
            if field != "reason" and (record, field) not in present]


def _line(s: Staleness) -> str:
    return f"{s.record}: {s.field} recorded {s.recorded}, current {s.current}"


# On the committed records ---------------------------------------------------------------------------

def test_no_committed_record_is_stale_unless_declared():
    new = undeclared(stale_records(), declared())
    assert not new, ("committed records no longer match their claims; rerun them (`lth verify ID --scale S --out "
                     "records`) or declare each in records/stale.json with its reason:\n  "
                     + "\n  ".join(map(_line, new)))


def test_every_declared_staleness_is_still_there():
    gone = outdated(stale_records(), declared())
    assert not gone, "records/stale.json declares a staleness that is not there; remove it:\n  " + "\n  ".join(gone)


def test_every_declaration_gives_its_reason():
    for record, entry in declared().items():
        assert len(str(entry.get("reason", "")).split()) >= 5, f"{record}: say why the stale record is kept"
        assert set(entry) - {"reason"} <= {"params_hash", "protocol_hash", "claim"}, record


# On constructed records -----------------------------------------------------------------------------

def _copy_records(tmp_path: Path, claim_id: str) -> Path:
    """A records folder holding one committed record of ``claim_id`` (the first, by name)."""
    source = sorted((RECORDS_DIR / "claims" / claim_id).glob("*.json"))[0]
    target = tmp_path / "records" / "claims" / claim_id / source.name
    target.parent.mkdir(parents=True)
    target.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    return target


def _edit(path: Path, **fields: Any) -> None:
    document = read_json(path)
    document["record"].update(fields)
    path.write_text(json.dumps(document), encoding="utf-8")


@pytest.mark.parametrize("claim_id", ["slth.dense.layer", "sim.supermask.learned"])
def test_a_record_as_its_claim_registers_it_today_is_not_stale(tmp_path, claim_id):
    _copy_records(tmp_path, claim_id)
    assert stale_records(tmp_path / "records") == []


def test_a_changed_parameter_hash_and_protocol_digest_are_seen_and_must_be_declared(tmp_path):
    path = _copy_records(tmp_path, "sim.supermask.learned")
    digest = read_json(path)["record"]["protocol_hash"]
    _edit(path, params_hash="000000000000", protocol_hash="f" * 64)
    stale = stale_records(tmp_path / "records")
    assert [(s.field, s.recorded) for s in stale] == [("params_hash", "000000000000"), ("protocol_hash", "f" * HASH)]
    name = stale[0].record
    assert undeclared(stale, {}) == stale
    declarations = {name: {"params_hash": {"record": "000000000000", "current": stale[0].current},
                           "protocol_hash": {"record": "f" * HASH, "current": digest[:HASH]},
                           "reason": "kept to show what the test sees"}}
    assert undeclared(stale, declarations) == [] and outdated(stale, declarations) == []
    # the claim changes again: the declaration no longer covers it
    moved = [Staleness(s.record, s.field, s.recorded, "123456789abc") for s in stale]
    assert undeclared(moved, declarations) == moved


def test_a_declaration_without_its_staleness_is_outdated():
    assert outdated([], {"records/claims/x/full-1.json": {"params_hash": {}, "reason": "r"}}) == [
        "records/claims/x/full-1.json: params_hash"]


def test_a_record_of_an_unregistered_claim_is_stale(tmp_path):
    path = _copy_records(tmp_path, "slth.dense.layer")
    _edit(path, claim="no.such.claim")
    assert [(s.field, s.recorded) for s in stale_records(tmp_path / "records")] == [("claim", "no.such.claim")]


if __name__ == "__main__":
    declarations = declared()
    for staleness in stale_records():
        print(("declared  " if staleness not in undeclared([staleness], declarations) else "UNDECLARED ")
              + _line(staleness))
