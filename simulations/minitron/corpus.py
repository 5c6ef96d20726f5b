r"""The text: the Python standard library's own sources (code, comments and docstrings).

Every fresh machine with Python has it, so nothing is downloaded. The object: the set of ``.py``
files under ``sysconfig.get_paths()["stdlib"]`` (``site-packages``, ``test``/``tests`` packages and
caches excluded), each assigned to one part by a hash of its path relative to that root:

    bucket(f) = int(sha256(relpath(f))[:8], 16) mod 100;   train: bucket < 80, calibration: 80..89,
    held-out: 90..99.

The split is by *file*, so no window of a held-out file was seen while scoring or training, and it
depends only on file names (stable across runs; a different Python version has different files).
A part is cut into windows of ``length`` tokens: files in a seeded random order, each file's tokens
cut into consecutive non-overlapping windows (the remainder is dropped), of which at most
``per_file`` drawn at random are kept (so a draw spans many files), until ``count`` windows.
"""

from __future__ import annotations

import hashlib
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch

PARTS = {"train": (0, 80), "calibration": (80, 90), "heldout": (90, 100)}
_EXCLUDED_DIRS = {"site-packages", "dist-packages", "test", "tests", "__pycache__", "idle_test"}


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def bucket(relative: str) -> int:
    """The file's hash bucket in 0..99 (from its path relative to the corpus root)."""
    return int(hashlib.sha256(relative.encode("utf-8")).hexdigest()[:8], 16) % 100


def corpus_files(part: str, root: Path | None = None) -> list[Path]:
    """The sorted ``.py`` files of one part (``train``, ``calibration`` or ``heldout``)."""
    if part not in PARTS:
        raise ValueError(f"part {part!r} not in {tuple(PARTS)}")
    root = stdlib_root() if root is None else Path(root)
    lo, hi = PARTS[part]
    files = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if _EXCLUDED_DIRS.intersection(relative.parts[:-1]):
            continue
        if lo <= bucket(relative.as_posix()) < hi:
            files.append(path)
    return files


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
    if count < 1 or length < 2:
        raise ValueError(f"need count >= 1 and length >= 2, got {count}, {length}")
    order = torch.randperm(len(files), generator=gen, device=gen.device).tolist()
    windows, used = [], []
    for index in order:
        text = files[index].read_text(encoding="utf-8", errors="replace")
        ids = encode(text)
        pieces = [ids[i:i + length] for i in range(0, len(ids) - length + 1, length)]
        if pieces:
            used.append(files[index].name)
        chosen = sorted(torch.randperm(len(pieces), generator=gen, device=gen.device)[:per_file].tolist())
        windows += [pieces[i] for i in chosen][: count - len(windows)]
        if len(windows) == count:
            return Windows(torch.tensor(windows, dtype=torch.long), tuple(used))
    raise ValueError(f"the {len(files)} files hold only {len(windows)} windows of {length} tokens, {count} asked")
