"""The paper generator (lth.manuscript): citations resolve, generated numbers equal the records, the
README block is the generator's, and the PDF builds where TeX is installed."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lth import manuscript
from lth.cli import main
from lth.registry import all_claims
from lth.store import REPO_ROOT, claim_record_path

PROVENANCE = {"git_commit": "0123456789abcdef", "git_dirty": False, "seed": 0, "utc_time": "2026-01-01T00:00:00+00:00"}


def latex_number(latex: str) -> float:
    """A generated LaTeX number read back: ``\\ensuremath{1.2\\times 10^{-3}}``, ``3{,}000``, signs."""
    text = latex.replace("\\lthquick{}", "").replace("{,}", "").replace("\\ensuremath{-}", "-")
    text = text.replace("\\ensuremath{+}", "+")
    scientific = re.fullmatch(r"\\ensuremath\{(.+)\\times 10\^\{(-?\d+)\}\}", text)
    return float(scientific[1]) * 10.0 ** int(scientific[2]) if scientific else float(text)


def plant(tree: dict, path: tuple, value: float) -> None:
    """Put ``value`` at ``path`` in a nested record, creating dicts and lists on the way."""
    node = tree
    for step, following in zip(path, path[1:] + (None,)):
        fresh = [] if isinstance(following, int) else {}
        if isinstance(step, int):
            while len(node) <= (step if step >= 0 else -step - 1):
                node.append({} if following is not None else None)
            step = step if step >= 0 else len(node) + step
            if following is None:
                node[step] = value
            elif not isinstance(node[step], type(fresh)):
                node[step] = fresh
            node = node[step]
        else:
            step = "x" if step == manuscript.FIRST else step
            if following is None:
                node[step] = value
            else:
                node = node.setdefault(step, fresh)


def _shows_a_number(value: manuscript.Value) -> bool:
    """A value read from one number (not a word, a list or a row: counts, spans, tables)."""
    if value.show in (manuscript.word, manuscript.count, manuscript.count_within, manuscript._listed, manuscript._dims):
        return False
    try:
        value.show(1.0)
    except (TypeError, KeyError, IndexError):
        return False
    return True


NUMERIC = [value for value in manuscript.VALUES if _shows_a_number(value)]


def synthetic_results(root: Path, number: float, scale: str = "quick") -> Path:
    """One record per registered claim, every numeric value of :data:`lth.manuscript.VALUES` set to
    ``number``, bound/certified/empirical too."""
    for claim_id in all_claims():
        record = {"claim": claim_id, "scale": scale, "params_hash": "0" * 12, "default_params": True,
                  "verdict": "holds", "reason": "synthetic", "seed": 0, "device": "cpu", "wall_s": 1.0,
                  "bound": {"value": number, "label": "b"}, "certified": {"value": number, "label": "c"},
                  "empirical": {"value": number, "label": "e"}, "params": {}, "details": {}}
        for value in NUMERIC:
            if value.claim == claim_id:
                plant(record, value.path, number)
        # a fixed provenance (no git calls): what lth.store.write_claim_record stores
        path = claim_record_path(root, claim_id, scale, record["params_hash"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"schema": 1, "provenance": PROVENANCE, "record": record}))
    return root


# Citations ----------------------------------------------------------------------------------------

def test_every_claim_the_manuscript_cites_is_registered():
    cited = manuscript.cited(manuscript.CLAIM_USE, manuscript.manuscript_files())
    assert cited, "the manuscript cites no claim"
    assert set(cited) <= set(all_claims())


def test_every_value_figure_and_table_the_manuscript_uses_is_generated():
    manuscript.check_citations()


def test_a_value_the_generator_does_not_know_is_refused(tmp_path: Path):
    (tmp_path / "sections").mkdir()
    (tmp_path / "sections" / "x.tex").write_text("n = \\val{rss.lueker:no_such_value}\n")
    with pytest.raises(ValueError, match=r"unknown value 'rss.lueker:no_such_value' at sections/x.tex:1"):
        manuscript.check_citations(tmp_path)


def test_an_unknown_claim_in_the_manuscript_is_refused(tmp_path: Path):
    (tmp_path / "paper.tex").write_text("\\claim{no.such.claim}\n% \\claim{commented.out}\n")
    with pytest.raises(ValueError, match="unknown claim 'no.such.claim'") as caught:
        manuscript.check_citations(tmp_path)
    assert "commented.out" not in str(caught.value)


# Generated numbers --------------------------------------------------------------------------------

@settings(max_examples=10, deadline=None)
@given(number=st.floats(min_value=1e-6, max_value=1e4, allow_nan=False, allow_infinity=False))
def test_generated_numbers_equal_the_records(tmp_path_factory, number: float):
    results = synthetic_results(tmp_path_factory.mktemp("results"), number)
    cells = manuscript.collect((*NUMERIC, *manuscript.claim_values(all_claims())), manuscript.load_documents(results, all_claims()))
    for key, cell in cells.items():
        if cell.value.show is manuscript.word:
            continue
        # the cell read the record's number at its path, and its LaTeX says the same as its text
        assert cell.shown == cell.value.show(1.0 if cell.value.name == "wall" else number), key
        assert latex_number(cell.latex) == pytest.approx(float(cell.text.rstrip("†").replace(",", ""))), key


def test_a_quick_record_is_marked_and_a_full_one_is_not(tmp_path: Path):
    claims = all_claims()
    quick = manuscript.collect(manuscript.claim_values(claims), manuscript.load_documents(synthetic_results(tmp_path / "q", 0.5), claims))
    full = manuscript.collect(manuscript.claim_values(claims),
                         manuscript.load_documents(synthetic_results(tmp_path / "f", 0.5, "full"), claims))
    key = f"{next(iter(claims))}:certified"
    assert quick[key].latex.endswith("\\lthquick{}") and quick[key].text.endswith("†")
    assert "\\lthquick" not in full[key].latex and "†" not in full[key].text


def test_a_claim_without_record_is_marked_missing_not_dropped(tmp_path: Path):
    claims = all_claims()
    cells = manuscript.collect((*manuscript.VALUES, *manuscript.claim_values(claims)), manuscript.load_documents(tmp_path, claims))
    assert cells and all(cell.latex == "\\lthmissing{no record}" for cell in cells.values())
    assert all(f"\\lthclaimdata{{{c}}}{{\\lthmissing{{no record}}}}" in
               manuscript.claims_data_tex(claims, manuscript.load_documents(tmp_path, claims), paper_links())
               for c in claims)


def paper_links():
    from lth.audit import claim_links

    return claim_links()


@pytest.mark.parametrize("value, text", [(0.0044, "0.0044"), (2.5e-5, "2.50e-5"), (123456.0, "1.23e5"),
                                         (0.01, "0.01"), (-0.25, "-0.25")])
def test_significant_figures_keep_the_value(value: float, text: str):
    shown = manuscript.sig(3)(value)
    assert shown.text == text and latex_number(shown.latex) == pytest.approx(float(text))


def test_latex_escape_leaves_no_special_character_bare():
    escaped = manuscript.latex_escape("a_b ^{D×D} 50% & #1 ~ \\ $x$")
    assert re.search(r"(?<!\\)[_%&#$]", escaped) is None


def test_every_character_above_latin1_gets_a_declaration():
    declarations, unknown = manuscript.unicode_declarations(["ε ≤ ‖x‖₂ ☃"])
    assert unknown == ["U+2603 ☃"]
    for ch in "ε≤‖₂☃":
        assert f"\\DeclareUnicodeCharacter{{{ord(ch):04X}}}" in declarations


# README block -------------------------------------------------------------------------------------

def test_the_readme_block_is_replaced_and_nothing_else(tmp_path: Path):
    claims = all_claims()
    cells = manuscript.collect(manuscript.claim_values(claims), manuscript.load_documents(synthetic_results(tmp_path, 0.25), claims))
    block = manuscript.readme_block(claims, cells)
    readme = f"# Title\n\nbefore\n\n{manuscript.README_BEGIN}\nold\n{manuscript.README_END}\n\nafter\n"
    rewritten = manuscript.replace_readme_block(readme, block)
    assert rewritten == f"# Title\n\nbefore\n\n{block}\n\nafter\n"
    assert manuscript.replace_readme_block(rewritten, block) == rewritten
    for claim_id in claims:
        assert f"| `{claim_id}` | holds | 0.25† | 0.25† | 0.25† | quick, seed 0 |" in block


def test_a_readme_without_markers_is_refused():
    with pytest.raises(ValueError, match="results:begin"):
        manuscript.replace_readme_block("# no block\n", "x")


def test_the_committed_readme_block_lists_every_registered_claim():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    begin, end = readme.index(manuscript.README_BEGIN), readme.index(manuscript.README_END)
    listed = re.findall(r"^\| `([^`]+)` \|", readme[begin:end], flags=re.M)
    assert listed == list(all_claims()), "stale: run `lth paper readme --results DIR`"


# Building -----------------------------------------------------------------------------------------

needs_tex = pytest.mark.skipif(bool(manuscript.missing_tools()),
                               reason=f"needs {', '.join(manuscript.missing_tools())}: {manuscript.INSTALL_HINT}")


@needs_tex
def test_every_claim_anchor_becomes_a_proof_label(tmp_path: Path):
    manuscript.convert_proofs(REPO_ROOT / "proofs", tmp_path)
    labels = "".join(p.read_text() for p in tmp_path.glob("*.tex"))
    for claim_id in all_claims():
        assert f"\\label{{proof:{claim_id}}}" in labels


@needs_tex
def test_the_pdf_builds_from_stored_records(tmp_path: Path):
    results = synthetic_results(tmp_path / "results", 0.125)
    report = manuscript.generate(results, tmp_path / "build", figures=False)
    assert report.missing_records == [] and report.unknown_characters == []
    pdf = manuscript.latexmk(tmp_path / "build")
    assert pdf.read_bytes().startswith(b"%PDF")


def test_without_tex_the_build_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert main(["paper", "build"]) != 0
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "apt-get install" in err and "Traceback" not in err


def test_the_readme_seed_block_is_generated_from_the_committed_seed_record():
    """README's seed-robustness table is exactly what `lth paper readme` makes from records/seeds-quick."""
    from lth.manuscript import SEEDS_BEGIN, SEEDS_END, SEEDS_RECORD, seeds_block
    from lth.store import read_json

    document = read_json(SEEDS_RECORD)
    readme = (SEEDS_RECORD.parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme[readme.index(SEEDS_BEGIN):readme.index(SEEDS_END) + len(SEEDS_END)]
    assert block == seeds_block(document)
    from lth.registry import all_claims

    theory = ("proofs/rss.md", "proofs/slth_dense.md", "proofs/slth_conv.md", "proofs/universal.md",
              "proofs/slth_sparse.md", "proofs/slth_attention.md", "proofs/slth_depth.md",
              "proofs/slth_hyperbolic.md", "proofs/slth_residual.md", "proofs/slth_compare.md")
    assert {row["claim"] for row in document["claims"]} == {cid for cid, c in all_claims().items() if c.proof in theory}
    assert all(row["verdict"] == "holds" for row in document["claims"])


def test_the_readme_records_block_lists_every_committed_record_with_its_reason():
    """README's records block is exactly what `lth paper readme` makes from records/claims, and names
    every committed record with the verdict and reason stored in it."""
    from lth.manuscript import RECORDS_BEGIN, RECORDS_DIR, RECORDS_END, records_block
    from lth.registry import all_claims
    from lth.store import read_json

    digests = {claim_id: entry.protocol_digest for claim_id, entry in all_claims().items()}
    readme = (RECORDS_DIR.parent / "README.md").read_text(encoding="utf-8")
    block = readme[readme.index(RECORDS_BEGIN):readme.index(RECORDS_END) + len(RECORDS_END)]
    assert block == records_block(RECORDS_DIR, digests)
    for path in RECORDS_DIR.glob("claims/*/*.json"):
        record = read_json(path)["record"]
        assert f"`{path.relative_to(RECORDS_DIR.parent).as_posix()}`" in block
        assert f"**{record['verdict']}**. {record['reason']}" in block


def test_a_record_judged_under_a_since_amended_protocol_is_flagged(tmp_path):
    from lth.manuscript import records_block
    from lth.store import write_json

    record = {"claim": "sim.x", "scale": "full", "seed": 0, "verdict": "holds", "reason": "d = +1 pp [+0.5, +1.5]",
              "protocol_hash": "a" * 64}
    write_json(tmp_path / "claims" / "sim.x" / "full-1.json", {"record": record}, seed=0, device="cpu")
    assert "registered now" not in records_block(tmp_path, {"sim.x": "a" * 64})
    flagged = records_block(tmp_path, {"sim.x": "b" * 64})
    assert "registered now: `bbbbbbbbbbbb`" in flagged and "protocol `aaaaaaaaaaaa`" in flagged


def test_reasons_blocks_are_refilled_from_the_records_and_name_a_missing_one():
    from lth.manuscript import reasons_blocks

    readme = ("intro\n<!-- reasons:begin sim.a sim.b -->\nstale hand-typed number 41.5%\n<!-- reasons:end -->\n"
              "between\n<!-- reasons:begin sim.a -->\n<!-- reasons:end -->\nend\n")
    documents = {"sim.a": {"record": {"scale": "quick", "seed": 0, "verdict": "fails", "reason": "d = -3 pp [-4, -2]"},
                           "provenance": {"git_commit": "0123456789abcdef"}}, "sim.b": None}
    text = reasons_blocks(readme, documents)
    assert "41.5%" not in text and text.startswith("intro\n") and text.endswith("end\n") and "\nbetween\n" in text
    assert text.count("- **`sim.a`** (quick, seed 0, code `01234567`): **fails**. d = -3 pp [-4, -2].") == 2
    assert "- **`sim.b`**: no record in the results folder (run `lth verify sim.b`)." in text
    assert reasons_blocks(text, documents) == text


def test_exploratory_blocks_render_each_table_kind_from_its_record(tmp_path):
    from lth.manuscript import exploratory_blocks
    from lth.store import write_json

    row = lambda name, m: {"row": name, "mean": m, "ci": [m - 0.1, m + 0.1],  # noqa: E731
                           "minus_reference": {"mean": m - 4.0, "ci": [m - 4.2, m - 3.8]}}
    budget = {"steps": 8, "batch": 2, "length": 64, "lr": 1e-4, "seeds": 2}
    write_json(tmp_path / "exploratory" / "losses.json", {"budget": budget, "rows": [row("kld", 4.0), row("mse", 4.3)],
                                                          "pruned_nll": [4.5, 4.7]}, seed=0, device="cpu")
    write_json(tmp_path / "exploratory" / "schedule.json", {"budget": budget, "zero_shot": [row("T=1", 5.0)],
                                                            "distilled": [row("T=1", 4.6)]}, seed=0, device="cpu")
    arch = {"hidden": 576, "heads": 9, "kv_heads": 3, "intermediate": 1024, "layers": 27, "head_dim": 64}
    write_json(tmp_path / "exploratory" / "search.json", {"budget": {"tokens_per_candidate": 1024}, "spearman": 1.0,
                                                          "rows": [{"architecture": arch, "parameters": 100.0e6,
                                                                    "kind": "mixed", "zero_shot_nll": 4.58,
                                                                    "zero_shot_rank": 1, "retrained_nll": 4.37,
                                                                    "retrained_rank": 1}]}, seed=0, device="cpu")
    readme = "".join(f"<!-- exploratory:begin {n} -->\nstale 9.99\n<!-- exploratory:end -->\n"
                     for n in ("losses", "schedule", "search", "absent"))
    text = exploratory_blocks(readme, tmp_path)
    assert "9.99" not in text and exploratory_blocks(text, tmp_path) == text
    assert "| mse | 4.300 [4.200, 4.400] | +0.300 [+0.100, +0.500] |" in text
    assert "NLL 4.600 (mean of 2 seeds)" in text and "8 steps × 2 windows × 64 tokens per run, 2 seeds" in text
    assert "*zero-shot*" in text and "*distilled*" in text and "| T=1 | 4.600 [4.500, 4.700] |" in text
    assert "| 100.0M | mixed | 576 | 9 | 1024 | 27 | 4.580 (1) | 4.370 (1) |" in text and "+1.00" in text
    assert "No record `records/exploratory/absent.json` yet." in text


def test_bench_blocks_copy_the_records_table_and_name_a_missing_record(tmp_path):
    from lth.manuscript import bench_blocks
    from lth.store import write_json

    write_json(tmp_path / "bench" / "subset_sum.json", {"readme_table": "| workload | measured |\n|---|---|\n| a | 1 s |"},
               seed=0, device="cpu")
    readme = ("x\n<!-- bench:begin subset_sum -->\n| typed by hand | 4.82 s |\n<!-- bench:end -->\ny\n"
              "<!-- bench:begin absent -->\n<!-- bench:end -->\n")
    text = bench_blocks(readme, tmp_path)
    assert "4.82" not in text and "| a | 1 s |" in text and text.startswith("x\n") and "\ny\n" in text
    assert "No record `records/bench/absent.json` yet" in text and bench_blocks(text, tmp_path) == text


def test_the_readme_bench_blocks_are_the_committed_records_tables():
    """Every speed table in the README is what `lth paper readme` copies from records/bench."""
    from lth.manuscript import BENCH_BLOCK, RECORDS_DIR, bench_blocks

    readme = (RECORDS_DIR.parent / "README.md").read_text(encoding="utf-8")
    assert BENCH_BLOCK.search(readme), "the README has no generated speed table"
    assert bench_blocks(readme, RECORDS_DIR) == readme


def test_the_quick_cost_line_is_made_from_the_runs_own_measurement(tmp_path):
    from lth.manuscript import COST_BEGIN, COST_END, replace_readme_block, verify_cost_block

    document = {"scale": "quick", "provenance": {"git_commit": "0123456789", "git_dirty": False, "seed": 0},
                "cost": {"wall_s": 824.2, "user_s": 536.4, "system_s": 26.0, "peak_rss_gb": 4.91, "cores": 2,
                         "torch_threads": 1, "load_start": 2.04, "load_end": 3.96},
                "records": [{"verdict": "holds"}] * 3 + [{"verdict": "inconclusive"}]}
    block = verify_cost_block(document)
    assert block.startswith(COST_BEGIN) and block.endswith(COST_END)
    assert "**13 min 44 s wall, 536 s user + 26 s system CPU**" in block and "4 claims" in block
    assert "commit 0123456" in block and "3 holds, 1 inconclusive" in block and "load average 2.0" in block
    readme = f"a\n{COST_BEGIN}\ntyped 99 min\n{COST_END}\nb\n"
    assert replace_readme_block(readme, block, COST_BEGIN, COST_END) == f"a\n{block}\nb\n"


def test_verify_json_records_what_the_run_cost(tmp_path):
    from lth.store import read_json
    from lth.verify import run_verify

    run_verify(["universal.poly.identity"], scale="quick", device="cpu", seed=0, out=tmp_path, progress=False)
    cost = read_json(tmp_path / "verify.json")["cost"]
    assert cost["wall_s"] > 0 and cost["user_s"] + cost["system_s"] > 0 and cost["peak_rss_gb"] > 0
    assert cost["cores"] >= 1 and cost["torch_threads"] >= 1
