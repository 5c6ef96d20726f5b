"""The claim audit: proof section, check and marked test for every claim; no dangling ids."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lth.audit import audit, claim_links, proof_anchors, marked_tests
from lth.store import REPO_ROOT
from lth.registry import all_claims


def registered() -> dict[str, str]:
    """This toolkit's claims (other packages' claims are audited by their own suites:
    lth.testing.assert_claims_linked)."""
    return {claim_id: entry.proof for claim_id, entry in all_claims().items() if not entry.origin}


def test_every_claim_links_a_proof_section_a_check_and_a_test():
    assert audit(registered(), claim_links()) == []


def test_there_is_at_least_one_registered_claim():
    assert registered()


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    for part in ("proofs", "tests"):
        shutil.copytree(REPO_ROOT / part, tmp_path / part)
    return tmp_path


def test_removing_a_proof_anchor_is_reported(tree_copy: Path):
    claim_id, proof = next(iter(registered().items()))
    path = tree_copy / proof
    path.write_text(path.read_text().replace(f'<a id="{claim_id}"></a>', ""))
    links = claim_links(tree_copy)
    assert any(claim_id in p and "no section" in p for p in audit(registered(), links, tree_copy))


def test_removing_every_test_mark_of_a_claim_is_reported(tree_copy: Path):
    claim_id = next(iter(registered()))
    for path in (tree_copy / "tests").glob("test_*.py"):
        path.write_text(path.read_text().replace(f'pytest.mark.claim("{claim_id}")', "pytest.mark.skip"))
    problems = audit(registered(), claim_links(tree_copy), tree_copy)
    assert any(claim_id in p and "no test marked" in p for p in problems)


def test_a_dangling_proof_anchor_is_reported(tree_copy: Path):
    (tree_copy / "proofs" / "extra.md").write_text('<a id="no.such.claim"></a>\n## Nothing\n')
    problems = audit(registered(), claim_links(tree_copy), tree_copy)
    assert any("no.such.claim" in p and "proof anchor" in p for p in problems)


def test_a_dangling_test_mark_is_reported(tree_copy: Path):
    (tree_copy / "tests" / "test_extra.py").write_text(
        'import pytest\n\n@pytest.mark.claim("no.such.claim")\ndef test_x():\n    assert True\n')
    assert "no.such.claim" in marked_tests(tree_copy / "tests")
    problems = audit(registered(), claim_links(tree_copy), tree_copy)
    assert any("no.such.claim" in p and "test mark" in p for p in problems)


def test_a_missing_proof_file_is_reported(tree_copy: Path):
    claim_id, proof = next(iter(registered().items()))
    (tree_copy / proof).unlink()
    assert proof_anchors(tree_copy / "proofs").get(claim_id) is None
    problems = audit(registered(), claim_links(tree_copy), tree_copy)
    assert any(claim_id in p and "does not exist" in p for p in problems)


def test_a_dangling_claim_in_the_manuscript_is_reported(tree_copy: Path):
    (tree_copy / "paper").mkdir()
    (tree_copy / "paper" / "extra.tex").write_text("As \\claim{no.such.claim} shows.\n")
    problems = audit(registered(), claim_links(tree_copy), tree_copy)
    assert any("no.such.claim" in p and "paper \\claim" in p and "extra.tex:1" in p for p in problems)
