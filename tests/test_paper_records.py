"""Every registered claim has a committed record under records/claims (the paper's source).

A claim registered without one fails here with its name; ``python tests/test_paper_records.py`` prints
the list. Not checked yet: whether a record's code is stale (the files its check imports changed since
the record's commit).
"""

from __future__ import annotations

from lth.manuscript import RECORDS_DIR
from lth.registry import all_claims
from lth.store import select_claim_record


def claims_without_committed_record() -> list[str]:
    """Registered claims with no record in ``records/claims/<id>/`` (sorted)."""
    return sorted(claim_id for claim_id in all_claims() if select_claim_record(RECORDS_DIR, claim_id) is None)


def test_every_claim_has_a_committed_record():
    missing = claims_without_committed_record()
    assert not missing, (f"{len(missing)} registered claim(s) have no committed record under records/claims: "
                         f"{', '.join(missing)} (run `lth verify ID --scale full --out records` and commit it)")


if __name__ == "__main__":
    missing = claims_without_committed_record()
    print(f"{len(missing)} of {len(all_claims())} registered claims have no committed record:", *missing, sep="\n  ")
