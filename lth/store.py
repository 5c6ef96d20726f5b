"""The result store: provenance, the one atomic write, and where every result lives.

Every JSON the toolkit writes carries ``schema`` and ``provenance`` (git commit and dirty flag,
package versions, device, seed, argv, UTC time) and is written by :func:`write_atomic`: a temporary
file in the same directory, flushed and fsynced, then ``os.replace``d over the target, so a reader
never sees a half-written file and an interrupted run leaves the previous file intact; the file gets
the mode of any file the user creates (0666 less the umask). Binary files
(checkpoints, tensors) go through the same function with a ``writer`` callback.

Addresses (open_lth's habit: a name is the hash of the settings that differ from the defaults, so
adding a defaulted setting keeps old names):

- claim records: ``RESULTS/claims/<id>/<scale>-<params hash>.json`` — a quick run never replaces a
  full-scale record, and a run with ``--param`` overrides never replaces the default one;
  :func:`select_claim_record` picks what figures and the paper read (full before quick, default
  parameters before overridden ones, then the newest);
- simulation runs: ``RESULTS/simulations/<experiment>/<settings hash>/`` (:class:`RunDirectory`).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import IO, Any, Callable

SCHEMA_VERSION = 1
_PACKAGES = ("lth-toolkit", "torch", "numpy", "scipy", "sympy", "matplotlib")
REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_ROOT = Path("results")
SIMULATIONS_ROOT = RESULTS_ROOT / "simulations"


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


@functools.cache
def code_state() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the repository, read once per process: the code a process runs is the code
    at its start, so a long run whose tree is committed to meanwhile still names the code that ran.
    Entry points that run long work call this before any work."""
    status = _git("status", "--porcelain")
    return _git("rev-parse", "HEAD"), None if status is None else bool(status)


def provenance(seed: int | None, device: str | None, argv: list[str] | None = None) -> dict[str, Any]:
    """The provenance block stored in every result file."""
    commit, dirty = code_state()
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "versions": package_versions(),
        "device": device,
        "seed": seed,
        "argv": list(sys.argv if argv is None else argv),
        "utc_time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
    }


def write_atomic(path: str | os.PathLike, data: str | bytes | Callable[[IO[bytes]], None]) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same directory, fsync, ``os.replace``).

    ``data`` is text (UTF-8), bytes, or a ``writer(handle)`` that writes to a binary file handle
    (e.g. ``lambda f: torch.save(state, f)``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            if callable(data):
                data(handle)
            else:
                handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, file_mode())  # mkstemp makes 0600; a result file gets the user's normal mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def out_probe(directory: str | os.PathLike) -> None:
    """Refuse an output directory that cannot be written, before any work starts; nothing is created.

    The nearest existing ancestor must be a folder in which a probe file can really be created: the
    only test that holds for root, read-only mounts and /proc (``os.access`` says yes to root).
    ValueError (one line) otherwise.
    """
    directory = existing = Path(directory)
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"cannot write to {directory}: {existing} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise ValueError(f"cannot write to {directory}: {exc.strerror or exc}") from None


def file_mode() -> int:
    """The mode of a new result file: 0o666 less the process's umask (read from /proc where it can be,
    since setting the umask to read it races with other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def write_json(path: str | os.PathLike, payload: dict[str, Any], *, seed: int | None, device: str | None) -> Path:
    """Write ``payload`` with schema version and provenance, atomically."""
    document = {"schema": SCHEMA_VERSION, "provenance": provenance(seed, device), **payload}
    return write_atomic(path, json.dumps(document, indent=2, sort_keys=False, default=_jsonable) + "\n")


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def settings_hash(settings: Any) -> str:
    """Hash of the dataclass fields that differ from their defaults (adding a defaulted field keeps
    every old name); 12 hex digits."""
    changed = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)
               if getattr(settings, f.name) != f.default}
    text = json.dumps(changed, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# Claim records ------------------------------------------------------------------------------------

def claim_record_path(results: Path, claim_id: str, scale: str, params_hash: str) -> Path:
    return Path(results) / "claims" / claim_id / f"{scale}-{params_hash}.json"


def write_claim_record(results: Path, record: dict[str, Any], *, seed: int | None, device: str | None) -> Path:
    """Store one check's record at its address (claim, scale, parameter hash)."""
    path = claim_record_path(results, record["claim"], record["scale"], record["params_hash"])
    return write_json(path, {"record": record}, seed=seed, device=device)


_SCALE_RANK = {"full": 0, "quick": 1}


def stored_claim_records(results: Path, claim_id: str) -> list[Path]:
    return sorted((Path(results) / "claims" / claim_id).glob("*.json"))


def select_claim_record(results: Path, claim_id: str, scale: str | None = None) -> dict[str, Any] | None:
    """The stored document a reader should use for ``claim_id``, or None when there is none.

    Preference: the requested scale (default: full before quick), records with the default
    parameters of their scale before overridden ones, then the newest. The document keeps its
    ``provenance`` so a figure can state which record it drew.
    """
    candidates = []
    for path in stored_claim_records(results, claim_id):
        document = read_json(path)
        record = document["record"]
        if scale is not None and record["scale"] != scale:
            continue
        document["path"] = str(path)
        key = (-_SCALE_RANK.get(record["scale"], 9), record.get("default_params", False),
               document["provenance"].get("utc_time") or "")
        candidates.append((key, document))
    if not candidates:
        return None
    return max(candidates, key=lambda item: item[0])[1]


# Simulation runs ----------------------------------------------------------------------------------

class RunDirectory:
    """Where one simulation run lives: ``root/<experiment>/<settings hash>/``.

    ``checkpoint.pt`` holds the state after the last completed step (written atomically); a finished
    run holds ``result.json`` (summary with provenance) and ``tensors.pt``. Library code sees only
    :meth:`load_state`, :meth:`save_state`, :meth:`load_finished` and :meth:`finish`.
    """

    def __init__(self, path: Path, *, seed: int | None = None, device: str | None = None):
        self.path = Path(path)
        self.seed = seed
        self.device = device

    @classmethod
    def for_settings(cls, experiment: str, settings: Any, root: Path = SIMULATIONS_ROOT, **kwargs: Any) -> "RunDirectory":
        return cls(Path(root) / experiment / settings_hash(settings), **kwargs)

    def child(self, name: str) -> "RunDirectory":
        return RunDirectory(self.path / name, seed=self.seed, device=self.device)

    def load_state(self, map_location: Any = None) -> dict | None:
        import torch

        checkpoint = self.path / "checkpoint.pt"
        return torch.load(checkpoint, map_location=map_location, weights_only=True) if checkpoint.exists() else None

    def save_state(self, state: dict) -> None:
        import torch

        write_atomic(self.path / "checkpoint.pt", lambda handle: torch.save(state, handle))

    def load_finished(self, map_location: Any = None) -> tuple[dict, dict] | None:
        import torch

        summary, tensors = self.path / "result.json", self.path / "tensors.pt"
        if not (summary.exists() and tensors.exists()):
            return None
        return read_json(summary), torch.load(tensors, map_location=map_location, weights_only=True)

    def finish(self, summary: dict, tensors: dict) -> None:
        import torch

        write_atomic(self.path / "tensors.pt", lambda handle: torch.save(tensors, handle))
        write_json(self.path / "result.json", summary, seed=self.seed, device=self.device)
        (self.path / "checkpoint.pt").unlink(missing_ok=True)
