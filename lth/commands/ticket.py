"""``lth ticket``: a certified strong lottery ticket for a user's own ReLU network.

The object: a state dict of an alternating Linear/ReLU network (``.pt`` read with
``torch.load(weights_only=True)``, or ``.safetensors``) is parsed into a list of
:class:`StateLayer` (one per parameterised module, in state-dict order); a ReLU is assumed between
consecutive layers and none after the last. A random network at the theorem's widths is pruned by
Pensia et al.'s construction (``theory.dense``) and the sup error over the domain is certified.
State dicts with Conv2d layers go to :func:`make_conv_ticket` (da Cunha et al.'s construction,
``theory.conv``; needs ``--input-shape`` and ``--padding``, certified over ``[0,1]^{C×H×W}``).

Outputs: ``--out FILE`` (a ``torch.save`` dict: the pruned ``torch.nn.Sequential``'s state dict, the
masks on the random weights, the random seed, the hidden units per input (key ``fan_out``) and the module list ``architecture``;
:func:`load_ticket` shows how plain torch rebuilds it) and ``FILE.json`` (certificate,
widths, provenance).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from theory.dense import (DEFAULT_C, Domain, Target, bound_units_per_input, build_ticket, certify_sup_error, check_norms,
                          over_parameterisation, rescale, search_sup_error)
from theory.conv import TicketReport, build_modules, construct_cnn_ticket, ticket_modules, ticket_sequential
from theory.device import DEVICE_CHOICES, generator, resolve_device
from lth.store import write_json

_PARAMETER_NAMES = ("weight", "bias")


@dataclass
class StateLayer:
    """One parameterised module of the state dict: ``name`` (key prefix), ``kind`` and its tensors."""

    name: str
    kind: str
    weight: torch.Tensor
    bias: torch.Tensor | None


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file or a ``.pt``/``.pth`` state dict (never plain pickle)."""
    if not path.exists():
        raise ValueError(f"model file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(loaded, dict) and "state_dict" in loaded and isinstance(loaded["state_dict"], dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise ValueError(f"{path} does not hold a state dict of tensors")
    return loaded


def _layer_kind(name: str, tensors: dict[str, torch.Tensor]) -> str:
    extra = sorted(set(tensors) - set(_PARAMETER_NAMES))
    if extra or "weight" not in tensors:
        raise ValueError(f"unsupported layer {name!r} with parameters {sorted(tensors)} (only Linear layers "
                         "with 'weight' and optional 'bias', separated by ReLU, are supported)")
    ndim = tensors["weight"].ndim
    if ndim == 2:
        return "Linear"
    if ndim == 4:
        return "Conv2d"
    raise ValueError(f"unsupported layer {name!r}: weight of shape {tuple(tensors['weight'].shape)}")


def parse_layers(state: dict[str, torch.Tensor]) -> list[StateLayer]:
    """Group ``prefix.weight`` / ``prefix.bias`` keys into layers, in state-dict order."""
    groups: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in state.items():
        prefix, _, leaf = key.rpartition(".")
        groups.setdefault(prefix, {})[leaf] = tensor
    if not groups:
        raise ValueError("the state dict is empty")
    specs = []
    for name, tensors in groups.items():
        kind = _layer_kind(name, tensors)
        specs.append(StateLayer(name, kind, tensors["weight"], tensors.get("bias")))
    return specs


def target_from_specs(specs: list[StateLayer]) -> Target:
    """The float64 :class:`Target` of parsed Linear layers (non-finite or mismatched shapes are refused)."""
    weights, biases = [], []
    for spec in specs:
        weight, bias = spec.weight, spec.bias
        for label, t in (("weight", weight), ("bias", bias)):
            if t is not None and not torch.isfinite(t).all():
                raise ValueError(f"layer {spec.name!r}: {label} has non-finite entries (NaN or inf)")
        weights.append(weight.detach().to(torch.float64))
        biases.append(None if bias is None else bias.detach().to(torch.float64))
    return Target(weights, biases)


def _domain(args: argparse.Namespace, d0: int) -> Domain:
    if args.domain == "ball":
        if not args.radius > 0:
            raise ValueError(f"--radius must be positive, got {args.radius}")
        return Domain("ball", radius=args.radius)
    lo, hi = args.box
    if not lo < hi:
        raise ValueError(f"--box needs LO < HI, got {lo} {hi}")
    return Domain("box", lo=(lo,) * d0, hi=(hi,) * d0)


def make_ticket(args: argparse.Namespace) -> dict:
    """Build, certify and save the ticket described by the parsed command line; returns the report."""
    specs = parse_layers(load_state_dict(args.model))
    if any(spec.kind == "Conv2d" for spec in specs):
        return make_conv_ticket(args, specs)
    for label, value in (("--eps", args.eps), ("--delta", args.delta)):
        if not 0 < value < 1:
            raise ValueError(f"{label} must lie in (0, 1), got {value}")
    device = resolve_device(args.device)
    target = target_from_specs(specs)
    factor = 1.0
    if args.rescale:
        target, factor = rescale(target)
    else:
        check_norms(target)
    domain = _domain(args, target.widths[0])
    signed = domain.kind == "ball" or min(domain.lo) < 0
    widths = [w.shape[1] for w in target.augmented()] + [target.widths[-1]]
    units = [bound_units_per_input(a, b, target.depth, args.eps * factor, args.delta, args.c)
             for a, b in zip(widths[:-1], widths[1:])]
    stages = tqdm(total=3, desc="lth ticket", disable=args.no_progress)
    stages.set_postfix_str("random network + masks")
    net, ticket = build_ticket(target, args.eps * factor, args.delta, seed=args.seed, device=device, c=args.c,
                               units_per_input=units, signed_input=signed, output_scale=1 / factor)
    stages.update()
    stages.set_postfix_str("certificate")
    cert = certify_sup_error(target, ticket, domain)
    stages.update()
    stages.set_postfix_str("search")
    search = search_sup_error(target, ticket, domain, restarts=args.restarts, steps=args.steps,
                              samples=args.samples, seed=args.seed)
    stages.update()
    stages.close()
    sequential = ticket.sequential()
    out = args.out or args.model.with_name(args.model.stem + ".ticket.pt")
    torch.save({"state_dict": {k: v.cpu() for k, v in sequential.state_dict().items()},
                "masks": [m.cpu() for m in ticket.masks], "seed": args.seed, "fan_out": net.units_per_input,
                "architecture": [type(m).__name__ for m in sequential]}, out)
    report = {"model": str(args.model), "ticket": str(out), "eps": args.eps, "delta": args.delta, "c": args.c,
              "domain": {"kind": domain.kind, "radius": domain.radius if domain.kind == "ball" else None,
                         "box": list(args.box) if domain.kind == "box" else None},
              "target_widths": target.widths, "target_parameters": target.parameters,
              "rescale_factor": factor, "fan_out": net.units_per_input,
              "random_widths": [w.shape[0] for w in net.weights],
              "random_parameters": net.parameters, "kept_parameters": ticket.kept,
              "sparsity": 1 - ticket.kept / net.parameters,
              "over_parameterisation": over_parameterisation(target, net),
              "certified_sup_error": cert.value, "union_bound": cert.parts["union_bound"],
              "empirical_sup_error": search.error,
              "certified_label": "rigorous float64 upper bound on sup over the domain of ||f(x) - ticket(x)||_2",
              "empirical_label": "largest error found by sampling + projected gradient ascent (a lower bound)",
              "holds": bool(search.error <= cert.value <= args.eps)}
    write_json(Path(str(out) + ".json"), {"ticket": report}, seed=args.seed, device=str(device))
    return report


def layers_from_state(named: list[tuple[str, torch.Tensor, torch.Tensor | None]],
                      paddings: list[str]) -> list[tuple[str, torch.Tensor, str]]:
    """``(kind, weight, padding)`` layers from ``(name, weight, bias)`` modules in state-dict order.

    4-D weights are Conv2d (stride 1), 2-D are Linear (the map is flattened before the first one).
    ``paddings`` gives one padding per Conv2d layer, or a single one for all. Biases are refused
    unless they are all zero: the construction (da Cunha et al.) has none.
    """
    convs = sum(w.ndim == 4 for _, w, _ in named)
    if len(paddings) == 1:
        paddings = paddings * convs
    if len(paddings) != convs:
        raise ValueError(f"{len(paddings)} paddings given for {convs} Conv2d layers; give one per layer or one for all")
    layers, pads = [], iter(paddings)
    for name, weight, bias in named:
        if bias is not None and bool((bias != 0).any()):
            raise ValueError(f"layer {name!r} has a non-zero bias; the CNN construction has no biases "
                             "(train the model with bias=False)")
        if weight.ndim == 4:
            layers.append(("conv", weight, next(pads)))
        elif weight.ndim == 2:
            layers.append(("linear", weight, "valid"))
        else:
            raise ValueError(f"unsupported layer {name!r}: weight of shape {tuple(weight.shape)}")
    return layers


def ticket_summary(report: TicketReport) -> dict:
    """JSON-able numbers of a CNN ticket (units of the original network)."""
    layers = report.ticket.layers
    return {"architecture": "cnn", "eps": report.eps, "rescale_factor": report.ticket.scale,
            "target_kernels": [list(t.target.weight.shape) for t in layers],
            "paddings": [t.target.padding for t in layers], "channels_n": report.channels,
            "hidden_channels": [t.u.shape[0] for t in layers], "layer_errors_normalised": report.layer_errors,
            "target_parameters": report.target_size, "random_parameters": report.ticket.total,
            "kept_parameters": report.ticket.kept, "sparsity": 1 - report.ticket.kept / report.ticket.total,
            "over_parameterisation": report.ticket.total / report.target_size,
            "certified_sup_error": report.certificate.value, "theorem_bound": report.theorem_bound,
            "empirical_sup_error": report.witness.error,
            "certified_label": "rigorous float64 upper bound on sup over [0,1]^{c×D×D} of ||f(X) - ticket(X)||_max",
            "empirical_label": "largest error found by projected gradient ascent (a lower bound)",
            "holds": bool(report.witness.error <= report.certificate.value <= report.eps)}


def format_ticket_summary(summary: dict) -> str:
    """Human-readable lines for a ``ticket_summary`` (what ``lth ticket`` prints for a CNN)."""
    lines = [f"target kernels     {summary['target_kernels']} ({summary['target_parameters']:,} parameters, "
             f"paddings {summary['paddings']})",
             f"channels n         {summary['channels_n']} per kernel (hidden channels {summary['hidden_channels']})",
             f"random parameters  {summary['random_parameters']:,} ({summary['over_parameterisation']:.1f}x the target)",
             f"kept parameters    {summary['kept_parameters']:,} (sparsity {summary['sparsity']:.4f})",
             f"certified error    {summary['certified_sup_error']:.4g} (rigorous sup over [0,1]^(c×D×D), max-norm)",
             f"theorem recursion  {summary['theorem_bound']:.4g}",
             f"empirical error    {summary['empirical_sup_error']:.4g} (search, lower bound on the sup)"]
    if summary["rescale_factor"] != 1.0:
        lines.insert(1, f"rescaled by        {summary['rescale_factor']:.6g} (undone by a final diagonal 1×1 conv)")
    verdict = "within" if summary["holds"] else "NOT within"
    lines.append(f"certified {verdict} eps = {summary['eps']:g}")
    return "\n".join(lines)

def make_conv_ticket(args: argparse.Namespace, specs: list[StateLayer]) -> dict:
    """State dicts with Conv2d layers: da Cunha et al.'s construction (``theory.conv``), certified in the
    max-norm over ``[0,1]^{C×H×W}``; stride 1, no biases, flattened before the first Linear. ``--eps`` is
    in the model's units; with ``--rescale``, eps / (product of layer norms) must lie in (0, 1)."""
    if not args.eps > 0:
        raise ValueError(f"--eps must be positive, got {args.eps}")
    if args.input_shape is None:
        names = ", ".join(repr(s.name) for s in specs if s.kind == "Conv2d")
        raise ValueError(f"Conv2d layers ({names}) need --input-shape C H W (inputs in [0, 1]) and --padding")
    if args.domain == "box" and tuple(args.box) != (0.0, 1.0):
        raise ValueError("CNN tickets are certified on the box [0, 1] only (the lemma's domain); "
                         "rescale the inputs to [0, 1]")
    device = resolve_device(args.device)
    layers = layers_from_state([(s.name, s.weight.detach(), s.bias) for s in specs], args.padding)
    report = construct_cnn_ticket(layers, tuple(args.input_shape), args.eps, generator(args.seed, device),
                                  rescale=args.rescale, n_range=(4, args.n_max), restarts=args.restarts,
                                  steps=args.steps, progress=not args.no_progress)
    out = args.out or args.model.with_name(args.model.stem + ".ticket.pt")
    torch.save({"state_dict": ticket_sequential(report.ticket).state_dict(), "seed": args.seed,
                "modules": ticket_modules(report.ticket)}, out)
    summary = {"model": str(args.model), "ticket": str(out), "input_shape": list(args.input_shape),
               **ticket_summary(report)}
    write_json(Path(str(out) + ".json"), {"ticket": summary}, seed=args.seed, device=str(device))
    return summary


def _print_report(report: dict) -> None:
    print(f"target widths      {report['target_widths']} ({report['target_parameters']:,} parameters)")
    if report["rescale_factor"] != 1.0:
        print(f"rescaled by        {report['rescale_factor']:.6g} (undone by a final diagonal layer)")
    print(f"random widths      {report['random_widths']} ({report['fan_out']} hidden units per input, "
          f"{report['random_parameters']:,} parameters, {report['over_parameterisation']:.1f}x the target)")
    print(f"kept parameters    {report['kept_parameters']:,} (sparsity {report['sparsity']:.4f})")
    print(f"certified error    {report['certified_sup_error']:.4g} (rigorous sup over the {report['domain']['kind']})")
    print(f"empirical error    {report['empirical_sup_error']:.4g} (search, lower bound on the sup)")
    print(f"per-weight union   {report['union_bound']:.4g}")
    verdict = "within" if report["holds"] else "NOT within"
    print(f"certified {verdict} eps = {report['eps']:g}")
    print(f"wrote {report['ticket']} and {report['ticket']}.json")


def _run(args: argparse.Namespace) -> int:
    report = make_ticket(args)
    if report.get("architecture") == "cnn":
        print(format_ticket_summary(report) + f"\nwrote {report['ticket']} and {report['ticket']}.json")
    else:
        _print_report(report)
    return 0 if report["holds"] else 1


def register(subparsers) -> None:
    p = subparsers.add_parser("ticket", help="prune a random network into a certified ε-approximation of MODEL",
                              description="MODEL is a state dict (.pt, .safetensors) of Linear layers with a "
                              "ReLU between consecutive layers. Exit 0 when the certified error is <= eps, 1 if not.")
    p.add_argument("model", type=Path,
                   help="state dict file (.pt/.pth via torch.load(weights_only=True), or .safetensors)")
    p.add_argument("--eps", type=float, required=True, help="target sup error, in (0, 1)")
    p.add_argument("--delta", type=float, default=0.01, help="failure probability in the width rule, in (0, 1)")
    p.add_argument("--domain", choices=("ball", "box"), default="ball",
                   help="ball: ||x||_2 <= radius (the theorem's); box: every coordinate in [LO, HI]")
    p.add_argument("--radius", type=float, default=1.0, help="ball radius")
    p.add_argument("--box", type=float, nargs=2, default=(0.0, 1.0), metavar=("LO", "HI"), help="box bounds")
    p.add_argument("--rescale", action="store_true",
                   help="divide layers with ||W_i||_2 > 1 by their norm (biases accordingly) and undo at the output")
    p.add_argument("--c", type=float, default=DEFAULT_C, help="width constant C of the theorem")
    p.add_argument("--seed", type=int, default=0, help="seed of the random network")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    p.add_argument("--out", type=Path, default=None, help="ticket file (default MODEL.ticket.pt)")
    p.add_argument("--restarts", type=int, default=16, help="gradient-ascent restarts of the error search")
    p.add_argument("--steps", type=int, default=60, help="gradient-ascent steps per restart")
    p.add_argument("--samples", type=int, default=2048, help="random inputs tried by the error search")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--input-shape", type=int, nargs=3, default=None, metavar=("C", "H", "W"),
                   help="CNN models: input shape (inputs in [0, 1]; H = W)")
    p.add_argument("--padding", nargs="+", choices=("valid", "same"), default=["valid"],
                   help="CNN models: padding of each Conv2d layer (stride 1), or one for all")
    p.add_argument("--n-max", type=int, default=32, help="CNN models: most random channels per target kernel")
    p.set_defaults(func=_run)


def load_ticket(path: Path) -> torch.nn.Sequential:
    """Rebuild the pruned ``torch.nn.Sequential`` from a ticket file, with plain torch only."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    state = saved["state_dict"]
    if "modules" in saved:  # a CNN ticket (theory.conv)
        sequential = build_modules(saved["modules"])
        sequential.load_state_dict(state)
        return sequential
    modules: list[torch.nn.Module] = []
    for index, kind in enumerate(saved["architecture"]):
        if kind == "ReLU":
            modules.append(torch.nn.ReLU())
            continue
        d_out, d_in = state[f"{index}.weight"].shape
        modules.append(torch.nn.Linear(d_in, d_out, bias=f"{index}.bias" in state, dtype=torch.float64))
    sequential = torch.nn.Sequential(*modules)
    sequential.load_state_dict(state)
    return sequential
