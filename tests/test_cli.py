"""The `lth` command line: exit statuses, reports, usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lth.cli import main

QUICK_RSS = ["--param", "eps_fit=(0.2, 0.1)", "--param", "eps_test=(0.05,)", "--param", "trials=200",
             "--param", "test_trials=400", "--no-progress", "--device", "cpu"]


@pytest.mark.claim("rss.lueker")
def test_verify_writes_both_reports_and_exits_zero_when_the_claim_holds(tmp_path: Path, capsys):
    status = main(["verify", "rss.lueker", *QUICK_RSS, "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "rss.lueker" in out and "holds" in out
    doc = json.loads((tmp_path / "verify.json").read_text())
    assert doc["schema"] == 1 and doc["records"][0]["claim"] == "rss.lueker"
    assert doc["provenance"]["device"] == "cpu"
    assert "| rss.lueker |" in (tmp_path / "verify.md").read_text()
    (stored,) = (tmp_path / "claims" / "rss.lueker").glob("quick-*.json")
    assert json.loads(stored.read_text())["record"]["scale"] == "quick"


@pytest.mark.claim("rss.lueker")
def test_verify_exits_one_when_a_check_fails_on_a_broken_instance(tmp_path: Path, capsys):
    status = main(["verify", "rss.lueker", *QUICK_RSS, "--fault", "n_offset=-5", "--out", str(tmp_path)])
    assert status == 1
    assert "fails" in capsys.readouterr().out


def test_verify_rejects_an_unknown_claim_with_status_two(tmp_path: Path, capsys):
    assert main(["verify", "no.such.claim", "--out", str(tmp_path)]) == 2
    assert "unknown claim" in capsys.readouterr().err


def test_a_malformed_param_is_a_usage_error(tmp_path: Path, capsys):
    assert main(["verify", "rss.lueker", "--param", "novalue", "--out", str(tmp_path)]) == 2
    assert main(["verify", "rss.lueker", "--param", "bogus=1", "--out", str(tmp_path)]) == 2


def test_bad_flags_exit_with_status_two():
    assert main(["verify", "--scale", "huge"]) == 2


def test_list_shows_each_claim_with_its_proof_anchor_and_tests(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "proofs/rss.md#rss.lueker" in out and "test_cli.py::" in out


def test_figures_without_records_is_one_line_exit_2_naming_the_command_to_run_first(tmp_path: Path, capsys):
    from lth.store import REPO_ROOT

    (tmp_path / "empty").mkdir()
    status = main(["figures", "--results", str(tmp_path / "empty"), "--out", str(tmp_path / "figs")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and f"run `lth verify --out {tmp_path / 'empty'}` first" in err[0]
    other = tmp_path / "other" / "claims"  # records, but none of the requested figures' claims
    other.mkdir(parents=True)
    for source in (REPO_ROOT / "records" / "claims").iterdir():
        if not source.name.startswith("rss."):
            (other / source.name).symlink_to(source)
    for names in (["rss_threshold_scaling"], ["rss_threshold_scaling", "rss_fixed_size"]):
        status = main(["figures", *names, "--results", str(tmp_path / "other"), "--out", str(tmp_path / "figs")])
        err = capsys.readouterr().err.strip().splitlines()
        assert status == 2 and len(err) == 1 and "run `lth verify " in err[0], err
    assert not (tmp_path / "figs").exists()


def test_a_parameter_of_the_wrong_type_is_refused_before_any_work(tmp_path: Path, capsys):
    assert main(["verify", "rss.lueker", "--param", "trials=abc", "--out", str(tmp_path / "out")]) == 2
    assert "wrong type" in capsys.readouterr().err
    assert not (tmp_path / "out" / "verify.json").exists()


def test_an_unwritable_output_directory_is_refused_before_any_work(tmp_path: Path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["verify", "rss.lueker", "--out", str(blocker / "sub")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_list_params_prints_every_parameter_with_quick_and_full_values_and_the_faults(capsys):
    assert main(["list", "--params", "--uses"]) == 0
    out = capsys.readouterr().out
    assert "eps_test = quick (0.01,), full" in out
    assert "— target sup error ε on the unit ball [domain: a finite number in (0, 1)]" in out
    assert "fault n_offset (off: 0)" in out
    assert "uses:" in out


def test_paper_readme_lists_every_registered_figure_with_its_script_and_claims():
    from lth.figures import index_markdown
    from lth.store import REPO_ROOT

    readme = (REPO_ROOT / "paper" / "README.md").read_text()
    missing = [row for row in index_markdown().splitlines()[2:] if row not in readme]
    assert not missing, "paper/README.md is stale; regenerate the table with `lth figures --index`:\n" + "\n".join(missing)


def _record(claim: str, verdict: str, certified: float | None):
    from lth.registry import Quantity, Record

    record = Record(verdict, "why", certified=None if certified is None else Quantity(certified, "c"))
    record.claim = claim
    return record


def test_a_failing_empirical_claim_is_reported_but_exits_one_only_when_strict():
    from lth.verify import exit_status, summary

    records = [_record("a.theory", "holds", 0.1), _record("b.sim", "fails", None)]
    assert exit_status(records) == 0 and exit_status(records, strict=True) == 1
    assert "not reproduced at this scale: b.sim" in summary(records)


def test_a_failing_certified_claim_or_an_error_always_exits_one():
    from lth.verify import exit_status, summary

    assert exit_status([_record("a.theory", "fails", 0.3)]) == 1
    assert exit_status([_record("b.sim", "error", None)]) == 1
    assert "CERTIFIED CLAIM FAILS: a.theory" in summary([_record("a.theory", "fails", 0.3)])


def test_a_failing_claim_judged_by_a_protocol_is_empirical_even_with_a_certificate_in_its_record():
    from lth.verify import exit_status, summary

    planted = _record("c.sim", "fails", 0.16)
    planted.protocol_hash = "2f2c30aa0574"
    assert exit_status([planted]) == 0 and exit_status([planted], strict=True) == 1
    assert "not reproduced at this scale: c.sim" in summary([planted]) and "CERTIFIED" not in summary([planted])
