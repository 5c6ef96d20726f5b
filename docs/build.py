"""Build the HTML documentation (``make docs``): pdoc's API reference of the public modules beside the
user guide (``lth.guide``), with the docstrings' LaTeX math typeset as MathML when the pages are built.

The theory modules state their objects in LaTeX (``$W_l\\in\\mathbb{R}^{d_l\\times d_{l-1}}$``); pdoc
would print that source as it is, or load MathJax from the network to typeset it in the browser. Here
each ``$…$`` (inline) and ``$$…$$`` (display) outside code is converted by latex2mathml into MathML,
which browsers render natively, so the site stays offline. A formula latex2mathml cannot read fails the
build with its text and where it is.

Usage: ``python docs/build.py OUT MODULE...`` (the Makefile passes ``DOCS_MODULES``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import markdown2
import pdoc
import pdoc.render
from latex2mathml.converter import convert

DOCFORMAT = "restructuredtext"  # the docstrings' ``code`` and :func:`roles`
TEMPLATES = Path(__file__).resolve().parent / "templates"  # the index page's introduction
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)  # fenced blocks and code spans: their $ are not math
MATH = re.compile(r"\$\$(?P<display>.+?)\$\$|(?<![\\$\w])\$(?P<inline>[^\s$](?:[^$]*?[^\s$\\])?)\$(?!\w)", re.S)
SLOT = "LTHMATHSLOT{}X"  # a word markdown leaves alone; replaced by the formula's MathML after markdown
CHECKOUT = Path(__file__).resolve().parent.parent  # printed in defaults such as Claim.root's


class MathError(ValueError):
    """A formula of a docstring that latex2mathml cannot convert."""


def protect_math(markdown: str) -> tuple[str, list[str]]:
    """``markdown`` with each formula outside code replaced by a slot, and the slots' MathML in order."""
    formulas: list[str] = []

    def typeset(match: re.Match[str]) -> str:
        source, display = (match["display"], "block") if match["display"] is not None else (match["inline"], "inline")
        if "\n\n" in source:  # a lone $ (a price, a shell prompt) would otherwise swallow paragraphs
            return match[0]
        try:
            formulas.append(convert(" ".join(source.split()), display=display))
        except Exception as exc:  # latex2mathml raises its own exception types, one per kind of error
            raise MathError(f"cannot typeset ${source}$: {type(exc).__name__}: {exc}") from exc
        return SLOT.format(len(formulas) - 1)

    parts, end = [], 0
    for code in CODE.finditer(markdown):
        parts += [MATH.sub(typeset, markdown[end:code.start()]), code[0]]
        end = code.end()
    parts.append(MATH.sub(typeset, markdown[end:]))
    return "".join(parts), formulas


def restore_math(html: str, formulas: list[str]) -> str:
    return re.sub(r"LTHMATHSLOT(\d+)X", lambda m: formulas[int(m[1])], html)


def to_html_with_math(docstring: str) -> str:
    """pdoc's Markdown-to-HTML filter with the formulas typeset; keeps the ``toc_html`` pdoc reads for
    the guide's contents."""
    try:
        text, formulas = protect_math(docstring)
    except MathError as exc:
        raise MathError(f"{exc} (in the docstring that starts {docstring.strip()[:60]!r})") from None
    html = markdown_to_html(text)
    typeset = markdown2.UnicodeWithAttrs(restore_math(html, formulas))
    typeset.toc_html = restore_math(html.toc_html, formulas) if getattr(html, "toc_html", None) else None
    return typeset


markdown_to_html = pdoc.render.env.filters["to_html"]


def build(out: Path, modules: list[str]) -> None:
    """The site of ``modules`` written to ``out`` (``out/index.html`` first)."""
    pdoc.render.configure(docformat=DOCFORMAT, template_directory=TEMPLATES)
    pdoc.render.env.filters["to_html"] = to_html_with_math
    try:
        pdoc.pdoc(*modules, output_directory=out)
    finally:
        pdoc.render.env.filters["to_html"] = markdown_to_html
        pdoc.render.configure()
    for page in Path(out).rglob("*.html"):
        without_checkout(page)


def without_checkout(page: Path) -> None:
    """Replace the building machine's checkout path (a default value such as ``Claim.root``'s shows it)
    by ``<checkout>``, so the site says the same wherever it is built."""
    html = page.read_text(encoding="utf-8")
    if str(CHECKOUT) in html:
        page.write_text(html.replace(str(CHECKOUT), "&lt;checkout&gt;"), encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: python docs/build.py OUT MODULE...")
    try:
        build(Path(sys.argv[1]), sys.argv[2:])
    except MathError as exc:
        sys.exit(f"make docs: {exc}")
