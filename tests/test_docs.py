"""The API reference that ``make docs`` builds with pdoc (HTML, offline; docs/build.py): every public module
renders, each public function and class of them has a docstring that appears on its page, every link between
the pages resolves, no page loads anything from the network, and the docstrings' LaTeX math is typeset as
MathML rather than printed. Skipped where pdoc or latex2mathml (the ``test`` extra) is missing.
"""

from __future__ import annotations

import html
import importlib.util
import re
from pathlib import Path

import pytest

from lth.store import REPO_ROOT

pdoc = pytest.importorskip("pdoc")
pytest.importorskip("latex2mathml")
import pdoc.doc  # noqa: E402
import pdoc.extract  # noqa: E402
import pdoc.render  # noqa: E402

_spec = importlib.util.spec_from_file_location("docs_build", REPO_ROOT / "docs" / "build.py")
docs_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(docs_build)


def _make_variable(name: str) -> str:
    found = re.search(rf"^{name} := (.*)$", (REPO_ROOT / "Makefile").read_text(), re.M)
    assert found, f"Makefile: no {name}"
    return found[1].strip()


MODULES = tuple(_make_variable("DOCS_MODULES").split())


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("docs")
    assert "$(BIN)/python docs/build.py build/docs $(DOCS_MODULES)" in (REPO_ROOT / "Makefile").read_text()
    docs_build.build(out, list(MODULES))
    return out


def _public_members(name: str) -> list[pdoc.doc.Doc]:
    """The functions and classes a module defines and exports (its ``__all__``, else names without ``_``)."""
    module = pdoc.doc.Module.from_name(name)
    exported = getattr(module.obj, "__all__", None)
    return [m for m in module.members.values()
            if isinstance(m, (pdoc.doc.Function, pdoc.doc.Class)) and m.modulename == name
            and (m.name in exported if exported is not None else not m.name.startswith("_"))]


def _page(site: Path, name: str) -> Path:
    return site / (name.replace(".", "/") + ".html")


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def test_the_public_modules_are_the_ones_promised():
    assert {"lth.testing", "lth.registry", "lth.theory"} <= set(MODULES)


def test_every_public_function_and_class_has_a_docstring_that_renders(site: Path):
    names = list(pdoc.extract.walk_specs(list(MODULES)))
    assert "lth.theory.subset_sum" in names and "lth.testing" in names
    undocumented = []
    for name in names:
        page = _page(site, name).read_text(encoding="utf-8")
        for member in _public_members(name):
            if not member.docstring.strip():
                undocumented.append(f"{name}.{member.qualname}")
                continue
            first_line = re.sub(r":[a-z]+:|`", "", member.docstring.split("\n")[0])  # :func:`x` renders as x
            words = re.findall(r"[A-Za-z]{3,}", first_line)[:3] or [" ".join(first_line.split())]
            at = page.find(f'<section id="{member.qualname}">')
            assert at >= 0, f"{name}: {member.qualname} has no section"
            end = page.find("<section id=", at + 1)
            shown = "".join(_text(page[at:end if end > 0 else len(page)]).split())
            assert all("".join(word.split()) in shown for word in words), \
                f"{name}.{member.qualname}: its docstring ({words}) is not shown"
    assert not undocumented, f"public functions and classes without a docstring: {undocumented}"


def test_every_link_between_the_pages_resolves_and_nothing_is_fetched(site: Path):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > len(MODULES)
    broken = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', text), f"{page} loads a remote file"
        for target in re.findall(r'href="([^"]+)"', text):
            if re.match(r"[a-z]+:", target) or "${" in target:
                continue  # a link to the web, or a template in the search script, not a page of the site
            path, _, anchor = html.unescape(target).partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.is_file():
                broken.append(f"{page.relative_to(site)}: {target}")
            elif anchor and f'id="{anchor}"' not in linked.read_text(encoding="utf-8"):
                broken.append(f"{page.relative_to(site)}: {target} (no such anchor)")
    assert not broken, broken


def test_the_user_guide_renders_its_five_sections(site: Path):
    """``lth.guide`` includes docs/guide.md: its page carries the guide's sections as headings."""
    page = (site / "lth" / "guide.html").read_text(encoding="utf-8")
    for title in ("Quick start", "Writing a claim", "Using the strategies in your property tests",
                  "Certifying your own network", "Scaling out"):
        assert re.search(rf"<h2[^>]*>\s*{re.escape(title)}", page), title


def _prose(page: str) -> str:
    """A page's text outside code, signatures, source listings and formulas."""
    for block in (r"<details>.*?</details>", r"<div class=\"pdoc-code codehilite\">.*?</div>", r"<code>.*?</code>",
                  r"<math.*?</math>", r"<script.*?</script>", r"<div class=\"signature.*?</div>"):
        page = re.sub(block, " ", page, flags=re.S)
    return _text(page)


def test_the_docstrings_math_is_typeset_and_no_page_prints_latex_stray_backticks_or_a_stray_quote(site: Path):
    """A formula left as LaTeX, a code span broken over two lines (printed with its backticks) or a docstring
    line starting with ``>`` (``>= 1`` wrapped to the line start, rendered as a quotation) is a page to fix."""
    depth = (site / "lth" / "theory" / "depth.html").read_text(encoding="utf-8")
    assert depth.count('<math xmlns="http://www.w3.org/1998/Math/MathML"') > 20
    printed = {}
    for page in sorted(site.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        found = re.findall(r"\$[^$]{0,40}|\\(?:mathbb|frac|le|in)\b|`", _prose(text)) + re.findall(r"<blockquote", text)
        if found:
            printed[str(page.relative_to(site))] = found[:3]
    assert not printed, printed


def test_the_strategies_signatures_show_their_types_not_quoted_strings(site: Path):
    page = (site / "lth" / "testing.html").read_text(encoding="utf-8")
    assert "SearchStrategy" in page and "ForwardRef" not in page and "&#39;st.SearchStrategy" not in page


@pytest.mark.parametrize("text, mathml, rest", [
    ("a $x_1$ b", ['display="inline"', "<msub>"], "a LTHMATHSLOT0X b"),
    ("$$\\sum_i x_i$$", ['display="block"', "<munder>"], "LTHMATHSLOT0X"),
    ("code `$x$` and\n```\n$y$\n```", [], "code `$x$` and\n```\n$y$\n```"),
    ("from $5 to $10 and a shell $ prompt", [], "from $5 to $10 and a shell $ prompt"),
])
def test_formulas_outside_code_become_mathml_and_the_rest_is_left_alone(text, mathml, rest):
    protected, formulas = docs_build.protect_math(text)
    assert protected == rest and len(formulas) == (1 if mathml else 0)
    assert all(part in formulas[0] for part in mathml)


def test_a_formula_latex2mathml_cannot_read_fails_the_build_with_its_text():
    with pytest.raises(docs_build.MathError, match=r"cannot typeset \$x\^\{\$"):
        docs_build.protect_math("broken $x^{$ here")


def test_the_front_page_introduces_the_toolkit_and_links_every_public_module(site: Path):
    page = (site / "index.html").read_text(encoding="utf-8")
    assert '<a href="lth/guide.html">user guide</a>' in page
    for name in MODULES:
        assert f'<a href="{name.replace(".", "/")}.html">{name}</a>:' in page


def test_no_page_shows_the_building_machines_checkout_path(site: Path):
    """Claim.root's default printed the build machine's folder (e.g. /work/main)."""
    shown = [page.name for page in site.rglob("*.html") if str(docs_build.CHECKOUT) in page.read_text(encoding="utf-8")]
    assert not shown, shown
    assert "&lt;checkout&gt;" in (site / "lth" / "registry.html").read_text(encoding="utf-8")

