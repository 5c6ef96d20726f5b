"""``lth universal poly|fourier``: build a universal ticket from random weights, certify and save it.

torch and lth.theory.universal are imported when the command runs, not when its parser is built, so a
refusal answers at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lth.store import write_atomic, write_json
from lth.validate import DEVICE_CHOICES, finite_float, non_negative_int, out_dir, positive_int

if TYPE_CHECKING:
    import torch

    from lth.theory.universal import RandomBlock

SOLVERS = ("sparse", "dense")  # lth.theory.universal.SOLVERS (tests/test_cli_bad_input.py checks they agree)


def _block_tensors(prefix: str, block: RandomBlock) -> dict[str, torch.Tensor]:
    return {f"{prefix}.first_weight": block.layer_weight, f"{prefix}.first_bias": block.layer_bias,
            f"{prefix}.units": block.units, f"{prefix}.feature": block.feature, f"{prefix}.w": block.w,
            f"{prefix}.v": block.v, f"{prefix}.mask": block.mask}


def _block_summary(block: RandomBlock, points: int) -> dict:
    from lth.theory.universal import certify_block, search_block_error

    return {"piece": block.piece.name, "interval": [block.piece.lo, block.piece.hi], "knots": block.num_knots,
            "certified_sup_error": certify_block(block).value,
            "sampled_error": search_block_error(block, points).error, "sampled_points": points,
            "kept": block.kept, "total": block.total}


def _run_cli(args) -> int:
    from safetensors.torch import save

    from lth.theory.device import generator, resolve_device
    from lth.theory.universal import (SHIFTS, certify_poly_basis, construct_fourier_ticket, construct_poly_ticket,
                                  frequencies, multi_indices, phase_offsets)

    device = resolve_device(args.device)
    gen = generator(args.seed, device)
    options = {"c_max": args.c_max, "solver": args.solver, "half_terms": args.half_terms}
    if args.kind == "poly":
        ticket = construct_poly_ticket(args.degree, args.eps_log, args.eps_exp, args.pool_size, gen, **options)
        blocks = {"log": ticket.log_block, "exp": ticket.exp_block}
        summaries = {name: _block_summary(block, args.points) for name, block in blocks.items()}
        r = multi_indices(args.dim, args.degree).to(device)
        basis = certify_poly_basis(ticket, r, summaries["log"]["certified_sup_error"],
                                   summaries["exp"]["certified_sup_error"])
        layout = {"multi_indices": r.tolist(), "basis_certified": basis.parts["per_basis"].tolist()}
    else:
        block = construct_fourier_ticket(args.dim, args.max_freq, args.eps_interp, args.pool_size, gen, **options)
        blocks = {"sin": block}
        summaries = {"sin": _block_summary(block, args.points)}
        freqs = frequencies(args.dim, args.max_freq)
        # basis function (n, c) is the sin block at n·x + phase_offset_n + c
        layout = {"frequencies": freqs.tolist(), "phase_offsets": phase_offsets(freqs).tolist(), "shifts": list(SHIFTS),
                  "basis_certified": summaries["sin"]["certified_sup_error"]}
    stem = args.out / f"universal_{args.kind}"
    tensors = {}
    for name, block in blocks.items():
        tensors.update(_block_tensors(name, block))
    write_atomic(stem.with_suffix(".safetensors"), save({k: t.contiguous().cpu() for k, t in tensors.items()}))
    write_json(stem.with_suffix(".json"), {"kind": args.kind, "blocks": summaries, **layout,
                                           "weights": str(stem.with_suffix(".safetensors"))},
               seed=args.seed, device=str(device))
    for name, summary in summaries.items():
        print(f"{name:4s} block on [{summary['interval'][0]:.4g}, {summary['interval'][1]:.4g}]: "
              f"certified {summary['certified_sup_error']:.3e}, sampled {summary['sampled_error']:.3e} "
              f"({summary['sampled_points']} points), kept {summary['kept']} of {summary['total']}")
    print(f"wrote {stem.with_suffix('.json')} and {stem.with_suffix('.safetensors')}")
    return 0


def register(subparsers) -> None:
    """Add ``lth universal {poly,fourier}``: build, certify and save a universal ticket."""
    p = subparsers.add_parser("universal", help="build a universal ticket from random weights, certify and save it")
    p.add_argument("kind", choices=("poly", "fourier"), help="polynomial (log/exp blocks) or Fourier (sin block)")
    tolerance = finite_float(0, 1, lo_open=True, hi_open=True)
    p.add_argument("--dim", type=positive_int, default=2, help="input dimension d")
    p.add_argument("--degree", type=positive_int, default=4, help="poly: largest total degree k")
    p.add_argument("--max-freq", type=positive_int, default=2, help="fourier: largest frequency N per coordinate")
    p.add_argument("--eps-log", type=tolerance, default=8e-5, help="poly: interpolation tolerance of the log block")
    p.add_argument("--eps-exp", type=tolerance, default=3e-4, help="poly: interpolation tolerance of the exp block")
    p.add_argument("--eps-interp", type=tolerance, default=1e-2,
                   help="fourier: interpolation tolerance of the sin block")
    p.add_argument("--pool-size", type=positive_int, default=128, help="random paths per coefficient part")
    p.add_argument("--c-max", type=finite_float(0, lo_open=True), default=2.0,
                   help="coefficients beyond this are split into parts")
    p.add_argument("--solver", choices=SOLVERS, default="sparse", help="subset-sum solver")
    p.add_argument("--half-terms", type=positive_int, default=2, help="sparse solver: kept paths per half pool")
    p.add_argument("--points", type=positive_int, default=10_000, help="grid points for the sampled error")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    p.add_argument("--out", type=out_dir, default="results/universal", help="output directory")
    p.set_defaults(func=_run_cli)
