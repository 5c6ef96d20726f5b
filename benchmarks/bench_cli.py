"""How fast the command line answers: ``lth --help`` and refusals of bad input, each in a fresh
interpreter (what a user waits for) in an empty temporary folder, best wall time of a few runs, with
the CPU time of that run and whether torch was loaded.

Commands whose parsers or checks need torch (``lth simulate``, ``lth verify``'s claim parameters) refuse
bad input from the catalogue of :mod:`lth.validate` once a run under the same code has filled it: each
command is timed first with an empty catalogue (``cold``: the first run after installing or changing the
code; it fills the catalogue) and then with that catalogue (``warm``: every later run).

``--baseline DIR`` also times the same commands with DIR first on ``sys.path`` (e.g. the ``lth``
package of an older commit, ``git archive COMMIT lth | tar -x -C DIR``) and prints the ratio.
Writes ``results/benchmarks/cli.json``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save, table  # noqa: E402

# (label, argv): --help, then refusals that need no model, data or record.
CASES = (
    ("lth --help", ["--help"]),
    ("universal --degree -1", ["universal", "poly", "--degree", "-1"]),
    ("ticket missing model", ["ticket", "/nonexistent/model.pt", "--eps", "0.1"]),
    ("paper readme, no results", ["paper", "readme", "--results", "/nonexistent"]),
    ("figures --out a file", ["figures", "--out", "/etc/hostname"]),
    ("simulate imp --batch-size 0", ["simulate", "imp", "--batch-size", "0"]),
    ("simulate basin --tau nan", ["simulate", "basin", "--tau", "nan"]),
    ("verify --param trials=-5", ["verify", "rss.lueker", "--param", "trials=-5", "--out", "out"]),
    ("verify unknown claim id", ["verify", "no.such.claim"]),
    ("minitron --help", ["minitron", "--help"]),
    ("minitron prune --heads 0", ["minitron", "prune", "smollm2", "--heads", "0", "--out", "out"]),
)
_PROBE = ("import sys; from lth.cli import main; status = main(sys.argv[1:]); "
          "print('torch' in sys.modules, file=sys.stderr); sys.exit(status)")


def run_once(argv: list[str], pythonpath: str | None, catalogue: str) -> tuple[float, float, bool, int]:
    """Wall seconds, CPU seconds (user + system of the child), whether torch was imported, exit status;
    ``catalogue`` is the folder of lth.validate's catalogue."""
    env = dict(os.environ, OMP_NUM_THREADS="1", LTH_CACHE_DIR=catalogue)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([pythonpath, env.get("PYTHONPATH", "")])
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    # An empty folder as cwd, removed afterwards: `python -c` puts the cwd first on sys.path (before
    # PYTHONPATH), and an older lth may do real work on bad input and write results under it.
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as cwd:
        done = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, env=env,
                              cwd=cwd)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    torch_loaded = done.stderr.strip().splitlines()[-1:] == ["True"]
    return wall, cpu, torch_loaded, done.returncode


def measure(argv: list[str], repeat: int, pythonpath: str | None = None) -> dict:
    """The cold run (empty catalogue), then the best of ``repeat`` warm runs."""
    with tempfile.TemporaryDirectory(prefix="bench-cli-catalogue-") as catalogue:
        cold_wall, cold_cpu, _, _ = run_once(argv, pythonpath, catalogue)
        wall, cpu, torch_loaded, status = min(run_once(argv, pythonpath, catalogue) for _ in range(repeat))
    return {"cold_wall_s": cold_wall, "cold_cpu_s": cold_cpu, "wall_s": wall, "cpu_s": cpu, "torch": torch_loaded,
            "exit": status}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per command; the fastest counts")
    parser.add_argument("--baseline", type=Path, default=None, help="folder holding an older lth package")
    args = parser.parse_args()
    rows = []
    for label, argv in CASES:
        row = {"command": label, **measure(argv, args.repeat)}
        if args.baseline is not None:
            before = measure(argv, args.repeat, str(args.baseline.resolve()))
            row.update({"before_wall_s": before["wall_s"], "before_cpu_s": before["cpu_s"],
                        "before_exit": before["exit"], "speed-up (CPU)": before["cpu_s"] / max(row["cpu_s"], 1e-9)})
        rows.append(row)
    columns = ["command", "cold_wall_s", "cold_cpu_s", "wall_s", "cpu_s", "torch", "exit"]
    if args.baseline is not None:
        columns += ["before_wall_s", "before_cpu_s", "before_exit", "speed-up (CPU)"]
    print(table(rows, columns))
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (wall times on a loaded machine are not comparable)")
    path = save("cli", {"rows": rows, "repeat": args.repeat, "load_average": os.getloadavg()}, seed=0, device="cpu")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
