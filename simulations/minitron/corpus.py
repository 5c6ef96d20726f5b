r"""The text: two sources that every Debian-like machine can install offline, split by file.

* ``code``: the Python standard library's own sources (``.py`` files under
  ``sysconfig.get_paths()["stdlib"]``; ``site-packages``, ``test``/``tests`` packages and caches
  excluded): code, comments and docstrings;
* ``prose``: the Python documentation's reStructuredText sources, English prose, as installed by
  Debian's ``python3-doc`` (``/usr/share/doc/python3/html/_sources/**/*.rst.txt``), turned into plain
  text by :func:`rst_to_text` (markup, labels and index entries removed; examples kept).

Each file of a source is assigned to one part by a hash of its path relative to the source's root:

    bucket(f) = int(sha256(relpath(f))[:8], 16) mod 100;   train: bucket < 80, calibration: 80..89,
    held-out: 90..99.

The split is by *file*, so no window of a held-out file was seen while scoring or training, and it
depends only on file names (stable across runs; another Python version has other files). A part is
cut into windows of ``length`` tokens: files in a seeded random order, each file's tokens cut into
consecutive non-overlapping windows (the remainder is dropped), of which at most ``per_file`` drawn
at random are kept (so a draw spans many files), until ``count`` windows. A *mixed* draw
(:func:`mixed_windows`) takes half its windows from each source, so every seed resamples the files
and windows, not only their order.
"""

from __future__ import annotations

import hashlib
import re
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

if TYPE_CHECKING:  # imported where windows are drawn: the CLI's checks (require_prose) run without it
    import torch

PARTS = {"train": (0, 80), "calibration": (80, 90), "heldout": (90, 100)}
SOURCES = ("code", "prose")
PROSE_ROOT = Path("/usr/share/doc/python3/html/_sources")
PROSE_INSTALL = "apt-get install -y python3-doc"
_EXCLUDED_DIRS = {"site-packages", "dist-packages", "test", "tests", "__pycache__", "idle_test"}


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def prose_available(root: Path = PROSE_ROOT) -> bool:
    """Whether the documentation sources of ``python3-doc`` are installed."""
    return root.is_dir() and any(root.rglob("*.rst.txt"))


def require_prose(root: Path = PROSE_ROOT) -> None:
    """``ValueError`` with the install line when the prose source is absent."""
    if not prose_available(root):
        raise ValueError(f"the English prose source ({root}) is not installed: `{PROSE_INSTALL}` (as root)")


def bucket(relative: str) -> int:
    """The file's hash bucket in 0..99 (from its path relative to the corpus root)."""
    return int(hashlib.sha256(relative.encode("utf-8")).hexdigest()[:8], 16) % 100


def _source_files(source: str, root: Path | None) -> tuple[Path, list[Path]]:
    if source == "code":
        root = stdlib_root() if root is None else Path(root)
        files = [p for p in sorted(root.rglob("*.py"))
                 if not _EXCLUDED_DIRS.intersection(p.relative_to(root).parts[:-1])]
        return root, files
    if source == "prose":
        root = PROSE_ROOT if root is None else Path(root)
        require_prose(root)
        return root, sorted(root.rglob("*.rst.txt"))
    raise ValueError(f"source {source!r} not in {SOURCES}")


def corpus_files(part: str, source: str = "code", root: Path | None = None) -> list[Path]:
    """The sorted files of one part (``train``, ``calibration`` or ``heldout``) of one source."""
    if part not in PARTS:
        raise ValueError(f"part {part!r} not in {tuple(PARTS)}")
    root, files = _source_files(source, root)
    lo, hi = PARTS[part]
    return [path for path in files if lo <= bucket(path.relative_to(root).as_posix()) < hi]


_ROLE = re.compile(r":[\w:.+-]+:`!?~?([^`<]*?)(?:\s*<[^`>]*>)?`")
_LITERAL = re.compile(r"``([^`]+)``")
_LINK = re.compile(r"`([^`<]+?)\s*<[^`>]+>`_+")
_UNDERLINE = re.compile(r"^([=\-~^\"'*+#`.:_])\1{2,}\s*$")
_DROPPED_BLOCKS = re.compile(r"^\.\. (index|toctree|_[^:]+|highlight|sectionauthor|moduleauthor|module|"
                             r"currentmodule|testsetup|testcleanup|c:\w+|only|raw|impl-detail|audit-event\w*)\b.*")


def rst_to_text(text: str) -> str:
    """reStructuredText → plain prose: roles, literals and links keep their text; heading underlines,
    labels, index entries, comments and other non-prose blocks are removed; ``::`` becomes ``:``."""
    out: list[str] = []
    skipping = False
    for line in text.splitlines():
        if skipping and (not line.strip() or line[:1].isspace()):
            continue
        skipping = False
        if _DROPPED_BLOCKS.match(line) or (line.startswith(".. ") and "::" not in line):
            skipping = True  # the directive (or a comment) and its indented body
            continue
        if line.startswith(".. ") or _UNDERLINE.match(line):
            continue  # other directives' headers (their indented body is prose or an example)
        line = _LINK.sub(r"\1", _LITERAL.sub(r"\1", _ROLE.sub(r"\1", line)))
        if line.strip() != "::":  # a lone "::" only introduces the example that follows
            out.append(line[:-1] if line.endswith("::") else line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip() + "\n"


def read_text(path: Path) -> str:
    """A corpus file as the model reads it (documentation sources turned into prose)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return rst_to_text(text) if path.name.endswith(".rst.txt") else text


@dataclass(frozen=True)
class Windows:
    """``ids`` [N, length] int64 token windows and the files they came from."""

    ids: torch.Tensor
    files: tuple[str, ...]

    @property
    def tokens(self) -> int:
        return int(self.ids.numel())


def token_windows(files: Sequence[Path], encode: Callable[[str], list[int]], count: int, length: int,
                  gen: torch.Generator, per_file: int = 2) -> Windows:
    """``count`` windows of ``length`` tokens from ``files`` taken in the order of a ``gen`` permutation,
    at most ``per_file`` (drawn from ``gen``) from each file.

    ``encode`` maps text to token ids (e.g. a tokenizer's ``encode`` without special tokens). Raises
    ``ValueError`` if the files hold fewer windows.
    """
    import torch

    if count < 1 or length < 2:
        raise ValueError(f"need count >= 1 and length >= 2, got {count}, {length}")
    order = torch.randperm(len(files), generator=gen, device=gen.device).tolist()
    windows, used = [], []
    for index in order:
        ids = encode(read_text(files[index]))
        pieces = [ids[i:i + length] for i in range(0, len(ids) - length + 1, length)]
        if pieces:
            used.append(files[index].name)
        chosen = sorted(torch.randperm(len(pieces), generator=gen, device=gen.device)[:per_file].tolist())
        windows += [pieces[i] for i in chosen][: count - len(windows)]
        if len(windows) == count:
            return Windows(torch.tensor(windows, dtype=torch.long), tuple(used))
    raise ValueError(f"the {len(files)} files hold only {len(windows)} windows of {length} tokens, {count} asked")


def mixed_windows(part: str, encode: Callable[[str], list[int]], count: int, length: int, seed: int,
                  sources: Sequence[str] = SOURCES) -> dict[str, torch.Tensor]:
    """``{source: [n_s, length]}`` windows of one part, ``count`` in all split evenly over ``sources``
    (the first sources get the remainder), each drawn with its own generator seeded from ``seed``."""
    import torch

    shares = [count // len(sources) + (i < count % len(sources)) for i in range(len(sources))]
    drawn = {}
    for offset, (source, share) in enumerate(zip(sources, shares)):
        if share:
            gen = torch.Generator().manual_seed(seed * len(SOURCES) + SOURCES.index(source))
            drawn[source] = token_windows(corpus_files(part, source), encode, share, length, gen).ids
    return drawn
