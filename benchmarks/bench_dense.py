"""Pensia-shape dense ticket: a 784-500-10 target (no biases, ‖W_i‖₂ = 1) at ε = 0.01.

Prints one table row per stage: wall time and the process's peak resident memory so far. Stages:
random network at the theorem's widths (C = 2), masks (batched ``best_subsets``), the rigorous
float64 certificate over the unit ball, and a short empirical search on the pruned Sequential.
Pensia et al. approximated the 397,000 weights one by one with a MIP (21.5 h on 36 cores) and
certified no network-level error. Usage: ``python benchmarks/bench_dense.py [--widths 784 500 10]``.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from lth.theory.dense import (DEFAULT_C, Domain, bound_units_per_input, certify_sup_error, construct_random_network,
                          construct_ticket, over_parameterisation, random_target, search_sup_error)
from lth.theory.device import resolve_device


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[784, 500, 10])
    parser.add_argument("--eps", type=float, default=0.01)
    parser.add_argument("--c", type=float, default=DEFAULT_C)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--search-steps", type=int, default=10)
    args = parser.parse_args()
    device = resolve_device(args.device)
    target = random_target(args.widths, torch.Generator(device=device).manual_seed(args.seed))
    widths = target.widths
    units = [bound_units_per_input(a, b, target.depth, args.eps, args.eps, args.c)
             for a, b in zip(widths[:-1], widths[1:])]
    rows = []

    def stage(name: str, start: float, note: str) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            note += f"; peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB"
        rows.append((name, time.perf_counter() - start, peak_rss_gib(), note))

    start = time.perf_counter()
    net = construct_random_network(widths, units, args.seed + 1, device)
    stage("random network", start, f"units per input {units}, {net.parameters:,} parameters "
          f"({over_parameterisation(target, net):.0f}x the target's {target.parameters:,})")
    start = time.perf_counter()
    ticket = construct_ticket(target, net)
    stage("masks (best_subsets)", start, f"kept {ticket.kept:,}; max per-weight error "
          + ", ".join(f"{e:.2g}" for e in ticket.info["max_weight_error"]))
    start = time.perf_counter()
    cert = certify_sup_error(target, ticket, Domain("ball"))
    stage("certificate (ball)", start, f"certified {cert.value:.4g} (ball recursion {cert.parts['ball_bound']:.4g}, "
          f"box {cert.parts['box_bound']:.4g}); union bound {cert.parts['union_bound']:.4g}")
    start = time.perf_counter()
    found = search_sup_error(target, ticket, Domain("ball"), restarts=4, steps=args.search_steps, samples=256)
    stage("search (lower bound)", start, f"empirical {found.error:.4g}")
    print(f"target {'-'.join(map(str, widths))}, eps = {args.eps}, device {device}, "
          f"torch threads {torch.get_num_threads()}")
    print("| stage | wall s | peak RSS GiB | result |\n|---|---|---|---|")
    for name, wall, rss, note in rows:
        print(f"| {name} | {wall:.1f} | {rss:.2f} | {note} |")


if __name__ == "__main__":
    main()
