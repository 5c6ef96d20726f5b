"""The checks that refuse a bad paper (lth.manuscript): on the committed records in records/ and on
constructed bad inputs. Everything here runs without TeX except the last test, which builds the PDF
from the committed records where TeX is installed and skips with the reason where it is not."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lth import manuscript
from lth.protocol import logged_digests
from lth.registry import all_claims, get_claim
from lth.store import read_json

RECORDS = manuscript.RECORDS_DIR


@pytest.fixture(scope="module")
def committed(tmp_path_factory) -> manuscript.Generated:
    """The generated LaTeX from the committed records (no figures; proofs where pandoc is installed)."""
    return manuscript.generate(RECORDS, tmp_path_factory.mktemp("build"), proofs=not manuscript.missing_tools(),
                          figures=False)


# On the committed records -------------------------------------------------------------------------

def test_every_value_the_manuscript_cites_is_in_its_committed_record(committed):
    """No [not in record]: each cited value of a claim with a committed record is found at its path
    (a claim with no committed record yet is reported as such, not as a missing value)."""
    missing = [p for p in committed.problems if "[not in record]" in p]
    assert missing == [], "\n".join(missing)


def test_every_character_of_the_generated_paper_has_a_latex_form(committed):
    assert [p for p in committed.problems if p.startswith("character")] == []


def test_no_closed_form_constant_published_number_or_threshold_carries_the_dagger(committed):
    for key, cell in committed.cells.items():
        if cell.scale is None or cell.shown is None:
            continue
        if not cell.value.measured or cell.value.path[:1] == ("params",):
            assert "lthquick" not in cell.latex, key
        if cell.scale == "full":
            assert "lthquick" not in cell.latex, key


def test_committed_tables_dagger_exactly_the_measured_cells_of_quick_records():
    """A table from a quick record daggers its measured columns and no setting column; one from a
    full record daggers nothing."""
    for table in manuscript.TABLES:
        paths = sorted(RECORDS.glob(f"claims/{table.claim}/full-*.json"))
        if not paths:
            continue
        document = read_json(paths[0])
        assert "lthquick" not in manuscript.table_tex(table, document)
        quick = json.loads(json.dumps(document))
        quick["record"]["scale"] = "quick"
        text = manuscript.table_tex(table, quick)
        body = text.split("\\midrule", 1)[1].split("\\bottomrule", 1)[0]
        for row in body.strip().splitlines():
            cells = row.rstrip(" \\").split(" & ")
            for cell, (_, _, show, *measured) in zip(cells, table.columns):
                given = show is manuscript.word or measured == [manuscript.GIVEN] or cell in ("---",)
                assert ("lthquick" in cell) != given, (table.name, cell)


def _as_quick(document: dict) -> dict:
    quick = json.loads(json.dumps(document))
    quick["record"]["scale"] = "quick"
    return quick


def test_each_end_of_a_measured_range_carries_its_own_dagger():
    """``from A to B`` of the width rule's sweep (the committed record, and the same record as if
    quick-scale): a dagger right after A and right after B, none on the range as a whole; none from
    a full record."""
    document = read_json(sorted(RECORDS.glob("claims/slth.dense.rule/*.json"))[-1])
    spans = [v for v in manuscript.VALUES if v.key in ("slth.dense.rule:sweep_kept", "slth.dense.rule:sweep_random")]
    assert len(spans) == 2
    number = r"\d{1,3}(?:\{,\}\d{3})*"
    for value in spans:
        quick = manuscript.collect([value], {"slth.dense.rule": _as_quick(document)})[value.key]
        assert re.fullmatch(rf"from {number}\\lthquick\{{\}} to {number}\\lthquick\{{\}}", quick.latex), quick.latex
        assert re.fullmatch(r"from [\d,]+† to [\d,]+†", quick.text), quick.text
        scale = document["record"]["scale"]
        cell = manuscript.collect([value], {"slth.dense.rule": document})[value.key]
        assert ("lthquick" in cell.latex) == (scale == "quick") and manuscript.MARK not in cell.latex + cell.text


def test_each_number_of_an_interval_in_a_table_carries_its_own_dagger():
    shown = manuscript.pp_interval({"mean": 0.0306, "ci": [0.0206, 0.0407]})
    assert manuscript.place_marks(shown.text, "†") == "+3.06† [+2.06†, +4.07†]"
    assert manuscript.place_marks(shown.text, "") == "+3.06 [+2.06, +4.07]"
    assert manuscript.place_marks(manuscript.integer(1234).text, "†") == "1,234†"


def test_no_committed_value_or_table_leaks_a_dagger_place():
    """The dagger's place holder never reaches the LaTeX, from the committed records or from the same
    records as if quick-scale; a quick table daggers each number of its interval cells."""
    claims = all_claims()
    documents = manuscript.load_documents(RECORDS, claims)
    quick = {c: d and _as_quick(d) for c, d in documents.items()}
    for docs in (documents, quick):
        cells = manuscript.collect((*manuscript.VALUES, *manuscript.claim_values(claims, bound_measured=False)), docs)
        assert not [key for key, cell in cells.items() if manuscript.MARK in cell.latex + cell.text]
        for table in manuscript.TABLES:
            text = manuscript.table_tex(table, docs.get(table.claim))
            assert manuscript.MARK not in text, table.name
    late = manuscript.table_tex(next(t for t in manuscript.TABLES if t.name == "late_regimes"), quick["sim.late_resetting"])
    premise = [row.split(" & ")[3] for row in late.split("\\midrule", 1)[1].split("\\bottomrule")[0].strip().splitlines()]
    assert premise and all(cell.count("\\lthquick{}") == 3 for cell in premise), premise


def _edge_popup() -> dict:
    return read_json(sorted(RECORDS.glob("claims/sim.edge_popup.width/*.json"))[-1])


def _table_rows(name: str, document: dict) -> list[str]:
    table = next(t for t in manuscript.TABLES if t.name == name)
    return manuscript.table_tex(table, document).split("\\midrule", 1)[1].split("\\bottomrule")[0].strip().splitlines()


def test_the_edge_popup_outcome_is_summarised_from_its_record_with_a_row_per_width_and_seed():
    """The committed sim.edge_popup.width record's reason (five widths, five seeds × two construction
    checks, the bridge) is printed as a summary of its details; the rows are in two tables."""
    document = _edge_popup()
    record, details = document["record"], document["record"]["details"]
    summary = manuscript.outcome_reason("sim.edge_popup.width", record)
    assert len(summary) < len(manuscript.prose(record["reason"])) / 2 and "construction m1" not in summary
    first = next(row for row in details["per_factor"] if row["matches"])
    assert f"from width \\ensuremath{{\\times}}{first['factor']:g} (TOST, Holm over {len(details['per_factor'])} widths" \
        in summary
    seeds = len(details["target"]["certified"])
    assert f"{2 * seeds} of {2 * seeds} checks hold" in summary and record["verdict"] == "holds"
    assert len(_table_rows("edge_popup_widths", document)) == len(details["per_factor"])
    assert len(_table_rows("edge_popup_constructions", document)) == seeds
    claims, _, _ = manuscript.registry()
    assert summary in manuscript.statements_tex(claims, {"sim.edge_popup.width": document})
    assert manuscript.prose(record["reason"]) not in manuscript.statements_tex(claims, {"sim.edge_popup.width": document})


def test_a_failed_construction_check_is_counted_and_a_quick_summary_daggers_its_numbers():
    broken = _as_quick(_edge_popup())
    construction = broken["record"]["details"]["target"]["certified"][0]
    manuscript.final_build(construction)["certificate"] = 2 * construction["eps_logits"]
    seeds = len(broken["record"]["details"]["target"]["certified"])
    summary = manuscript.outcome_reason("sim.edge_popup.width", broken["record"])
    assert f"{2 * seeds - 1} of {2 * seeds} checks hold" in summary
    rise = re.search(r"minus [^:]*: (.*?)~pp \[(.*?), (.*?)\]", summary)
    assert rise and all(number.endswith("\\lthquick{}") for number in rise.groups()), summary
    table = next(t for t in manuscript.TABLES if t.name == "edge_popup_constructions")
    measured = sum((measured or [True])[0] for _, _, _, *measured in table.columns)
    assert all(row.count("\\lthquick{}") == measured for row in _table_rows(table.name, broken))


def test_a_summarised_outcome_its_record_lacks_the_details_of_is_refused():
    record = {"verdict": "holds", "reason": "the check's own words", "scale": "full", "params": {}, "details": {}}
    summary = manuscript.outcome_reason("sim.edge_popup.width", record)
    assert summary == "the check's own words \\lthmissing{not in record}"
    claims, _, _ = manuscript.registry()
    text = manuscript.statements_tex(claims, {"sim.edge_popup.width": {"record": record}})
    problems = manuscript.paper_problems({}, {}, {"statements.tex": text}, [], {}, [])
    assert [p for p in problems if p.startswith("statements.tex:") and "[not in record]" in p], problems


def test_no_printed_reason_of_a_committed_record_is_a_wall_of_text():
    """A reason that lists every seed's numbers is summarised (manuscript.OUTCOME_SUMMARIES)."""
    documents = manuscript.load_documents(RECORDS, all_claims())
    long = {c: n for c, d in documents.items() if d and (n := len(manuscript.outcome_reason(c, d["record"]))) > 2000}
    assert long == {}


def test_every_registered_claim_and_figure_is_discussed_in_a_section():
    """Each claim is stated or cited in a topic section (not only in the appendices), and each
    registered figure is placed there with its caption."""
    sections = sorted((manuscript.PAPER_DIR / "sections").glob("*.tex"))
    discussed = set()
    for pattern in (manuscript.CLAIM_USE, manuscript.STATEMENT_USE, manuscript.OUTCOME_USE):
        discussed |= set(manuscript.cited(pattern, sections))
    assert set(all_claims()) - discussed == set()
    _, _, figures = manuscript.registry()
    assert set(figures) - set(manuscript.cited(manuscript.FIGURE_USE, sections)) == set()


def test_empirical_claims_are_hypotheses_with_their_protocol_and_never_a_proof(tmp_path):
    claims = all_claims()
    statements = manuscript.statements_tex(claims, manuscript.load_documents(RECORDS, claims))
    for claim_id, entry in claims.items():
        line = next(l for l in statements.splitlines() if l.startswith(f"\\lthstatementdata{{{claim_id}}}"))
        if entry.protocol is not None:
            assert line.startswith(f"\\lthstatementdata{{{claim_id}}}{{hypothesis}}")
            assert line.endswith(f"{{{entry.protocol_digest}}}")
        else:
            assert "{hypothesis}" not in line
    (tmp_path / "sections").mkdir()
    empirical = next(c for c, e in claims.items() if e.protocol is not None)
    (tmp_path / "sections" / "x.tex").write_text(f"\\begin{{theorem}}[\\claim{{{empirical}}}]x\\end{{theorem}}\n")
    refused = rf"\\claim\{{{re.escape(empirical)}\}} at sections/x.tex:1 cites an empirical"
    with pytest.raises(ValueError, match=refused):
        manuscript.check_citations(tmp_path)


def test_the_protocol_appendix_names_each_current_digest_and_every_log_entry():
    claims = all_claims()
    amendments = manuscript.REPO_ROOT.joinpath("proofs", "amendments.md").read_text(encoding="utf-8")
    text = manuscript.protocols_tex(claims, amendments)
    logged = logged_digests(amendments)
    for claim_id, entry in claims.items():
        if entry.protocol is None:
            assert f"protocol:{claim_id}}}" not in text
            continue
        section = text.split(f"\\label{{protocol:{claim_id}}}", 1)[1].split("\\subsection", 1)[0]
        assert f"digest \\texttt{{{entry.protocol_digest}}}" in section
        for digest in logged.get(claim_id, []):
            assert digest in section


# Constructed bad inputs ---------------------------------------------------------------------------

def _documents_with(claim_id: str, record: dict) -> dict:
    return {claim_id: {"record": {"claim": claim_id, "scale": "quick", "verdict": "holds", "reason": "r",
                                  **record}, "provenance": {}}}


def test_a_cited_value_its_record_lacks_is_refused_with_its_place(tmp_path):
    (tmp_path / "sections").mkdir()
    (tmp_path / "sections" / "x.tex").write_text("first line\nC is \\val{rss.lueker:C} here\n")
    documents = _documents_with("rss.lueker", {"details": {"C_se": 0.1}})  # a record without details.C
    cells = manuscript.collect(manuscript.VALUES, documents)
    problems = manuscript.paper_problems(cells, documents, {}, [], {}, [tmp_path / "sections" / "x.tex"])
    assert problems == ["\\val{rss.lueker:C} at sections/x.tex:2: [not in record] (its record has no details/C)"]


def test_a_claim_without_record_a_figure_not_drawn_and_an_unknown_character_are_refused():
    documents = {"rss.lueker": None}
    problems = manuscript.paper_problems({}, documents, {"statements.tex": "ok\nsnow ☃ here\n"}, ["U+2603 ☃"],
                                    {"rss_fixed_size": "no stored record"}, [])
    assert problems == ["claim rss.lueker has no record (run `lth verify rss.lueker --out DIR`)",
                        "figure rss_fixed_size not drawn: no stored record",
                        "character U+2603 ☃ has no LaTeX form (add it to lth.manuscript.UNICODE_LATEX), first at "
                        "statements.tex:2"]


def test_a_table_cell_its_record_lacks_is_refused():
    table = next(t for t in manuscript.TABLES if t.name == "transfer_directions")
    document = {"record": {"scale": "full", "params_hash": "0", "seed": 0,
                           "details": {"judged": {"a->b": {"remaining": 0.2,
                                                           "vs_random": {"mean": 0.01, "ci": [0, 0.02]}}}}},
                "provenance": {}}
    text = manuscript.table_tex(table, document)
    problems = manuscript.paper_problems({}, {}, {"table_transfer_directions.tex": text}, [], {}, [])
    assert len(problems) == 1 and "table_transfer_directions.tex:" in problems[0] and "[not in record]" in problems[0]


LOG = """This is pdfTeX
(./paper.tex (/usr/share/texlive/texmf-dist/tex/latex/base/article.cls (/usr/share/x/size11.clo))
(/tmp/b/generated/macros.tex) (/work/paper/sections/rss.tex
Overfull \\hbox (12.5pt too wide) in paragraph at lines 40--42
[]\\T1/lmr/m/n/10.95 (unbalanced paren in the box's contents
\\T1/lmr/m/n/10.95 more contents

Overfull \\hbox (3.1pt too wide) in paragraph at lines 50--51
[]\\T1/lmr/m/n/10.95 small

LaTeX Warning: Reference `fig:nothing' on page 3 undefined on input line 44.

) (/tmp/b/generated/proofs/rss.tex
Overfull \\hbox (123.0pt too wide) in alignment at lines 7--9
[] []

Missing character: There is no ☃ in font lmr10!
Package natbib Warning: Citation `nobody2020' on page 1 undefined on input line 8.
))
"""


def test_the_log_check_names_each_defect_and_its_file():
    assert manuscript.log_problems(LOG) == [
        "overfull box by 12.5 pt in sections/rss.tex in paragraph at lines 40--42",
        "undefined reference 'fig:nothing' (input line 44): printed as ??",
        "overfull box by 123.0 pt in proofs/rss.tex in alignment at lines 7--9",
        "missing character ☃ in font lmr10",
        "undefined citation 'nobody2020' (input line 8): printed as ??",
    ]
    assert manuscript.log_problems(LOG, limit_pt=200.0) == [p for p in manuscript.log_problems(LOG) if "overfull" not in p]


def test_a_clean_log_has_no_problem():
    assert manuscript.log_problems("(./paper.tex (./a.tex\nUnderfull \\hbox (badness 10000) in paragraph\n[]\n\n))") == []


# Words and typesetting ----------------------------------------------------------------------------

@pytest.mark.parametrize("counts, phrase", [
    ({"holds": 1, "inconclusive": 1, "fails": 1, "error": 0},
     "1 holds, 1 is inconclusive, 1 fails and none raised an error"),
    ({"holds": 24, "inconclusive": 6, "fails": 2, "error": 2},
     "24 hold, 6 are inconclusive, 2 fail and 2 raised an error")])
def test_verdict_counts_read_as_english(counts, phrase):
    assert manuscript.verdict_phrase(counts) == phrase


def test_test_counts_agree_in_number():
    assert (manuscript.plural(1, "test"), manuscript.plural(3, "test")) == ("1 test", "3 tests")


def test_a_combining_accent_joins_its_letter():
    assert manuscript.latex_escape("V̂_n") == "\\ensuremath{\\hat{V}}\\_n"
    assert "\u0302" not in manuscript.combine_accents("log V̂ − log V")


def test_no_typewriter_text_of_the_manuscript_holds_a_dash_ligature():
    """``--`` inside \\texttt prints as an en dash: a copied command line would fail."""
    for path in manuscript.manuscript_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            assert not re.search(r"\\texttt\{[^}]*--", line), f"{path.name}:{number}"


# The PDF from the committed records ---------------------------------------------------------------

@pytest.mark.skipif(bool(manuscript.missing_tools()),
                    reason=f"needs {', '.join(manuscript.missing_tools())}: {manuscript.INSTALL_HINT}")
def test_the_pdf_from_the_committed_records_has_no_defect(tmp_path):
    missing = [c for c, d in manuscript.load_documents(RECORDS, all_claims()).items() if d is None]
    if missing:
        pytest.skip(f"claims without a committed record: {', '.join(missing)}")
    report = manuscript.generate(RECORDS, tmp_path, figures=True)
    assert report.problems == []
    manuscript.latexmk(tmp_path)
    log = (tmp_path / "paper.log").read_text(encoding="utf-8", errors="replace")
    assert manuscript.log_problems(log) == []
    assert manuscript.LOG_FIGURE.search(log), "paper.tex no longer states the printed size of its figures"
    assert manuscript.printed_figure_problems(log, tmp_path / "figures") == []


def test_ascii_symbols_of_statements_and_reasons_are_printed_as_symbols():
    text = "n >= c·log2(k/eps) at eps=0.01: 0/600 <= 0.05; adam->sgd; a-->b; epsilon stays"
    assert manuscript.prose(text) == manuscript.latex_escape(
        "n ≥ c·log₂(k/ε) at ε=0.01: 0/600 ≤ 0.05; adam→sgd; a-->b; epsilon stays")


def test_ascii_sub_and_superscripts_are_typeset_as_math():
    text = "widths ρ_0, …, ρ_{L-1}; [0,1]^{D×D×c}; ((1+x_i)/2)^{r_i}; W_Q^T"
    assert manuscript.prose(text) == ("widths \\ensuremath{ρ_{0}}, …, \\ensuremath{ρ_{L-1}}; "
                                      "[0,1\\ensuremath{]^{D×D×c}}; ((1+\\ensuremath{x_{i}})/2\\ensuremath{)^{r_{i}}}; "
                                      "\\ensuremath{W_{Q}^{T}}")


@given(st.lists(st.from_regex(r"[a-z]{2,8}", fullmatch=True), min_size=2, max_size=4))
def test_names_with_underscores_are_typeset_as_code(words):
    name = "_".join(words)
    assert manuscript.prose(f"the {name} parameter") == f"the {manuscript.code_name(name)} parameter"


def test_a_code_name_of_one_letter_and_a_long_part_is_code_and_a_short_script_is_math():
    assert manuscript.prose("v_proj and w_ij") == f"{manuscript.code_name('v_proj')} and \\ensuremath{{w_{{ij}}}}"


def test_an_indexed_greek_symbol_is_subscripted_and_a_product_is_not():
    assert manuscript.prose("θk, θ0 and θ15 but sin(πx)") == ("\\ensuremath{θ_{k}}, \\ensuremath{θ_{0}} and "
                                                              "\\ensuremath{θ_{15}} but sin(πx)")


TEXTTT = re.compile(r"\\texttt\{(?:[^{}]|\{\})*\}")


def _printed_as_characters(tex: str) -> list[str]:
    """What of ``tex`` would print a code name's underscore or an index beside its Greek letter: an escaped
    ``_`` outside typewriter type, a Greek letter followed by a digit or an index letter."""
    bare = TEXTTT.sub("", tex)
    return re.findall(r"\S*\\_\S*", bare) + re.findall(r"[α-ωΑ-Ω](?:\d|[i-nt](?!\w))", bare)


def test_no_registered_statement_or_committed_reason_prints_a_code_name_or_index_as_characters():
    """Every statement on the real registry and every committed record's reason: names from the code
    (``pool_cap``, ``large_final_same_sign``, ``v_proj``) in typewriter type, ``θk`` as θ with subscript k."""
    texts = {claim_id: get_claim(claim_id).statement for claim_id in all_claims()}
    texts |= {str(path): read_json(path)["record"]["reason"] for path in RECORDS.glob("claims/*/*.json")}
    wrong = {where: found for where, text in texts.items() if (found := _printed_as_characters(manuscript.prose(text)))}
    assert wrong == {}
    # the names the issue found, each set as code
    assert "\\texttt{pool\\_cap}" in manuscript.prose(get_claim("slth.dense.rule").statement)
    assert "\\texttt{large\\_final\\_same\\_sign}" in manuscript.prose(
        get_claim("sim.supermask.zero_shot").statement)
    assert "\\ensuremath{θ_{k}}" in manuscript.prose(get_claim("sim.late_resetting").statement)


def test_no_registered_statement_prints_an_ascii_script():
    for claim_id in all_claims():
        tex = manuscript.prose(get_claim(claim_id).statement)
        assert not re.search(r"(?<![A-Za-z])[A-Za-z]\\_|\\\^\{\}", tex), (claim_id, tex)


@given(st.lists(st.floats(min_value=1e-7, max_value=1e7, allow_nan=False), min_size=1, max_size=8))
def test_a_table_column_uses_one_notation(values):
    """A column whose values straddle 1e-3 (or 1e5) prints every value in scientific notation."""
    show = manuscript.sig(2).for_column(values)
    cells = [show(v).latex for v in values]
    scientific = ["\\times 10^" in cell for cell in cells]
    assert all(scientific) or not any(scientific), cells
    assert any(scientific) == any(v < 1e-3 or v >= 1e5 for v in values)


# A formula's script printed as a character: ``\_2``, ``\_\{``, ``\^{}`` (a name such as min_gain keeps its ``\_``).
PRINTED_SCRIPT = re.compile(r"\\_(?:\\\{|[A-Za-z0-9](?![A-Za-z0-9]))|\\\^\{\}")


def test_no_quantity_label_of_a_committed_record_prints_a_script_as_a_character():
    """The claims appendix prints each record's bound/certified/empirical label: ``sup_{‖x‖≤1}``,
    ``[0,1]^{c×D×D}``, ``||x||_2``, ``max_i`` and ``ỹ_i`` are set as math, never as ``_``/``^``."""
    labels = [q["label"] for path in sorted(RECORDS.glob("claims/*/*.json"))
              for name in ("bound", "certified", "empirical")
              if (q := read_json(path)["record"].get(name)) and q.get("label")]
    assert labels
    for label in labels:
        assert not PRINTED_SCRIPT.search(manuscript.quantity_label(label)), (label, manuscript.quantity_label(label))


def test_a_quantity_label_sets_operator_and_norm_scripts_as_math():
    tex = manuscript.quantity_label("bound on sup_{||x||<=1} ||f - g||_2 and max_i |y_i - ỹ_i|; the min_gain")
    assert "\\ensuremath{\\sup_{‖x‖≤1}}" in tex and "g\\ensuremath{‖_{2}}" in tex
    assert "\\ensuremath{\\max_{i}}" in tex and "\\ensuremath{ỹ_{i}}" in tex
    assert manuscript.code_name("min_gain") in tex
    assert not PRINTED_SCRIPT.search(tex)


def test_every_section_stating_a_quick_scale_claim_says_so_in_its_prose():
    """A claim whose committed record is quick-scale is presented as such: the section that states it
    marks it with \\lthquick in its own words (not only in the generated header), and the limitations
    name every such claim (``summary:quick_claims``)."""
    documents = manuscript.load_documents(RECORDS, all_claims())
    quick = {c for c, d in documents.items() if d is not None and d["record"]["scale"] == "quick"}
    for path in sorted((manuscript.PAPER_DIR / "sections").glob("*.tex")):
        stated = set(manuscript.cited(manuscript.STATEMENT_USE, [path]))
        if stated & quick:
            assert "\\lthquick" in path.read_text(encoding="utf-8"), (path.name, sorted(stated & quick))
    named = manuscript.summary_cells(documents)["summary:quick_claims"].shown.text
    assert sorted(filter(None, named.split(", "))) == sorted(quick) or (named == "none" and not quick)
    assert "\\val{summary:quick_claims}" in (manuscript.PAPER_DIR / "sections" / "limits.tex").read_text()


def test_no_proof_holds_a_long_command_line_as_inline_code():
    """An inline code span with spaces and over 60 characters (a command line) cannot break where TeX
    needs it and leaves a stretched line in the proofs appendix: such a command goes in a code block."""
    for path in sorted((manuscript.REPO_ROOT / "proofs").glob("*.md")):
        text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
        for span in re.findall(r"(?<!`)`([^`]+)`(?!`)", text):
            assert not (" " in span.strip() and len(span) > 60), (path.name, span)


LIST_ITEM = re.compile(r"^([-*+]|\d+[.)])\s")


def test_no_proof_list_follows_its_paragraph_without_a_blank_line():
    """pandoc's Markdown reads a list only after a blank line: without one its items run into the
    paragraph and the proofs appendix prints "- item" or "1. item" inline."""
    for path in sorted((manuscript.REPO_ROOT / "proofs").glob("*.md")):
        previous, code, math = "", False, False
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.startswith("```"):
                code = not code
            starts_list = LIST_ITEM.match(line) and not (code or math)
            assert not (starts_list and previous.strip() and not previous.startswith(("#", " "))
                        and not LIST_ITEM.match(previous)), f"{path.name}:{number}"
            math ^= line.count("$$") % 2 == 1
            previous = line


def test_every_code_line_of_the_proofs_fits_the_printed_line():
    """A code block is printed verbatim and cannot break: a line over 72 characters overflows."""
    for path in sorted((manuscript.REPO_ROOT / "proofs").glob("*.md")):
        for block in re.findall(r"```[^\n]*\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S):
            assert all(len(line) <= 72 for line in block.splitlines()), (path.name, block)


def test_the_undiscussed_figures_appendix_appears_only_when_a_figure_is_undiscussed(tmp_path):
    """No empty appendix section: the heading comes with the first figure the prose does not cite."""
    a, b = sorted(manuscript.registry()[2])[:2]
    problems = {a: "not drawn", b: "not drawn"}
    every = manuscript.figures_tex(problems, tmp_path, [a, b]).split("\\newcommand{\\lthotherfigures}", 1)[1]
    assert "\\section" not in every and "\\lthfigure" not in every
    one = manuscript.figures_tex(problems, tmp_path, [a]).split("\\newcommand{\\lthotherfigures}", 1)[1]
    assert one.index("\\section{Figures not discussed in the text}") < one.index(f"\\lthfigure{{{b}}}")
    assert f"\\lthfigure{{{a}}}" not in one


def test_iteration_counts_print_as_whole_iterations():
    """The early-stop difference is in iterations (evaluated every 100): no hundredths of an iteration."""
    values = [v for v in manuscript.VALUES if v.claim == "sim.imp.early_stop"]
    cells = manuscript.collect(values, manuscript.load_documents(RECORDS, ["sim.imp.early_stop"]))
    shown = [cell.shown.text for cell in cells.values() if cell.shown is not None]
    assert shown and not any("." in text for text in shown), shown


def test_a_figure_caption_names_its_record_commit_as_the_claim_header_does():
    """A record made from an uncommitted tree is '<commit>-dirty' in the claim's header: its figure's
    caption says so too."""
    entry = {"claim": "rss.lueker", "scale": "full", "params_hash": "abc", "git_commit": "aa36be8" + "0" * 33}
    assert "\\texttt{aa36be8}" in manuscript._drawn_source(entry)
    assert "\\texttt{aa36be8-dirty}" in manuscript._drawn_source({**entry, "git_dirty": True})


def test_only_proved_statements_are_typeset_as_theorems():
    """A measured constant, a statement certified on drawn instances and a hypothesis never print as a
    Theorem: only kinds ``theorem`` and ``exact`` do."""
    for claim_id, entry in all_claims().items():
        environment = manuscript.statement_environment(entry)
        assert (environment == "theorem") == (entry.protocol is None and entry.kind in ("theorem", "exact")), claim_id
