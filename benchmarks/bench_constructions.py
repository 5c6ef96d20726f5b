"""``lth ticket --construction``: Pensia's, Orseau's and Burkholz's constructions side by side on the same target.

For each target (unbiased, ‖W_i‖₂ = 1, so every construction's hypotheses hold: ‖W_i‖₂ ≤ 1 and
|w_ij| ≤ 1) and ε, each construction runs through ``lth ticket``'s own path (its plan, then its
builder from ``lth.commands.ticket``: random network + masks, certificate, search) on the unit ball,
and the wall time of each stage is read at the builder's progress updates (best of ``--repeat``).
Printed per row: random and kept parameters, depth, certified and sampled error, build and certify
seconds, and the ratios of build + certify time and of random parameters to Pensia's on the same row.
Pensia runs at the measured width rule (C = ``DEFAULT_C``), Orseau and Burkholz at their theorems'
proven widths: the ratios compare what ``lth ticket`` builds, not the constructions at equal guarantees.
A construction whose memory estimate exceeds ``--max-gib`` is listed with its estimate, not built.
Writes ``results/benchmarks/constructions.json``. Usage:
``python benchmarks/bench_constructions.py [--quick] [--targets 8,6,4 64,32,10] [--eps 0.05]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numba
import torch

from lth.commands.ticket import BUILDERS, CONSTRUCTIONS, PLANS
from lth.theory.dense import Domain, random_target
from lth.theory.device import resolve_device

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save, table  # noqa: E402


class StageClock:
    """Stands in for ``lth ticket``'s progress bar: records the time of each ``update`` (a stage's end)."""

    def __init__(self) -> None:
        self.marks = [time.perf_counter()]

    def set_postfix_str(self, text: str) -> None:
        pass

    def update(self) -> None:
        self.marks.append(time.perf_counter())

    def stages(self) -> list[float]:
        """Seconds of build, certificate, search."""
        return [b - a for a, b in zip(self.marks[:-1], self.marks[1:])]


def run(name: str, target, eps: float, delta: float, device: torch.device, repeat: int, max_bytes: float,
        search: argparse.Namespace) -> dict:
    plan = PLANS[name](target, eps, delta, True, None)
    row = {"target": "-".join(map(str, target.widths)), "eps": eps, "construction": name,
           "memory_estimate_gib": plan.bytes / 2**30}
    if plan.bytes > max_bytes:
        return {**row, "note": f"not built: needs about {plan.bytes / 2**30:.1f} GiB (--max-gib)"}
    best = [float("inf")] * 3
    for _ in range(repeat):
        clock = StageClock()
        flags = argparse.Namespace(eps=eps, delta=delta, **vars(search))  # what lth ticket's builders read
        built = BUILDERS[name](target, plan, 1.0, Domain("ball"), flags, device, clock)
        best = [min(b, s) for b, s in zip(best, clock.stages())]
    return {**row, "random": built.random_parameters, "kept": built.kept, "depth": len(built.random_widths),
            "certified": built.certificate.value, "sampled": built.empirical, "build_s": best[0],
            "certify_s": best[1], "search_s": best[2], "build_certify_s": best[0] + best[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small target at eps 0.1: a smoke run")
    parser.add_argument("--targets", nargs="+", default=["8,6,4", "64,32,10"],
                        help="comma-separated target widths, one target per argument")
    parser.add_argument("--eps", type=float, default=0.05)
    parser.add_argument("--delta", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=2, help="runs per construction; the fastest stage counts")
    parser.add_argument("--max-gib", type=float, default=4.0, help="largest memory estimate built")
    parser.add_argument("--threads", type=int, default=1, help="torch and numba (subset-sum kernels) threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)
    targets = [[4, 3, 2]] if args.quick else [[int(w) for w in t.split(",")] for t in args.targets]
    eps = 0.1 if args.quick else args.eps
    device = resolve_device(args.device)
    search = argparse.Namespace(restarts=4, steps=20, samples=512, seed=args.seed)
    rows = []
    for widths in targets:
        target = random_target(widths, torch.Generator().manual_seed(args.seed))
        built = [run(name, target, eps, args.delta, device, args.repeat, args.max_gib * 2**30, search)
                 for name in CONSTRUCTIONS]
        base = built[0]
        for row in built:
            if "random" in row and "random" in base:
                row["time_ratio"] = row["build_certify_s"] / base["build_certify_s"]
                row["random_ratio"] = row["random"] / base["random"]
        rows += built
    print(f"eps = {eps}, delta = {args.delta}, device {device}, {args.threads} thread(s); "
          "wall times on this machine as it is loaded (not for publication without an idle rerun)")
    print(table(rows, ["target", "construction", "depth", "random", "kept", "certified", "sampled", "build_s",
                       "certify_s", "build_certify_s", "time_ratio", "random_ratio", "note"]))
    save("constructions", {"rows": rows, "eps": eps, "delta": args.delta, "repeat": args.repeat,
                           "search": vars(search)}, seed=args.seed, device=str(device))


if __name__ == "__main__":
    main()
