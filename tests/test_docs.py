"""The API reference that ``make docs`` builds with pdoc (HTML, offline): every public module renders, each
public function and class of them has a docstring that appears on its page, every link between the pages
resolves, and no page loads anything from the network. Skipped where pdoc (the ``test`` extra) is missing.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from lth.store import REPO_ROOT

pdoc = pytest.importorskip("pdoc")
import pdoc.doc  # noqa: E402
import pdoc.extract  # noqa: E402
import pdoc.render  # noqa: E402

DOCFORMAT = "restructuredtext"  # the docstrings' ``code`` and :func:`roles` (the Makefile passes the same)


def _make_variable(name: str) -> str:
    found = re.search(rf"^{name} := (.*)$", (REPO_ROOT / "Makefile").read_text(), re.M)
    assert found, f"Makefile: no {name}"
    return found[1].strip()


MODULES = tuple(_make_variable("DOCS_MODULES").split())


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("docs")
    assert f"--docformat {DOCFORMAT}" in (REPO_ROOT / "Makefile").read_text()
    pdoc.render.configure(docformat=DOCFORMAT)
    try:
        pdoc.pdoc(*MODULES, output_directory=out)
    finally:
        pdoc.render.configure()
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
