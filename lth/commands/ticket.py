"""``lth ticket``: a certified strong lottery ticket for a user's own ReLU network.

The object: a state dict of an alternating Linear/ReLU network (``.pt`` read with
``torch.load(weights_only=True)``, or ``.safetensors``) is parsed into a list of
:class:`StateLayer` (one per parameterised module, in state-dict order); a ReLU is assumed between
consecutive layers and none after the last. A random network at the theorem's widths is pruned by
Pensia et al.'s construction (``lth.theory.dense``) and the sup error over the domain is certified.
State dicts with Conv2d layers go to :func:`make_conv_ticket` (da Cunha et al.'s construction,
``lth.theory.conv``; needs ``--input-shape`` and ``--padding``, certified over ``[0,1]^{C×H×W}``).

Outputs: ``--out FILE`` (a ``torch.save`` dict: the pruned ``torch.nn.Sequential``'s state dict, the
masks on the random weights, the random seed, the hidden units per input (key ``fan_out``) and the module list ``architecture``;
:func:`load_ticket` shows how plain torch rebuilds it) and ``FILE.json`` (certificate,
widths, provenance).
"""

from __future__ import annotations

import argparse
import math
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lth.store import write_atomic, write_json
from lth.validate import (DEVICE_CHOICES, finite_float, input_file, int_at_least, non_negative_int, out_file,
                          positive_int)

if TYPE_CHECKING:  # torch and the constructions are imported where they are used: a refusal answers at once
    import torch

    from lth.theory.conv import TicketReport
    from lth.theory.dense import Domain, Target

_PARAMETER_NAMES = ("weight", "bias")


@dataclass
class StateLayer:
    """One parameterised module of the state dict: ``name`` (key prefix), ``kind`` and its tensors."""

    name: str
    kind: str
    weight: torch.Tensor
    bias: torch.Tensor | None


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file or a ``.pt``/``.pth`` state dict (never plain pickle).

    Every unreadable file (missing, empty, truncated, not a torch or safetensors file, a pickled
    module) is refused with one line: a ``ValueError``.
    """
    import torch

    if not path.is_file():
        raise ValueError(f"model file {path} does not exist or is not a file")
    if path.stat().st_size == 0:
        raise ValueError(f"model file {path} is empty")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:  # safetensors raises its own error types for damaged headers
            raise ValueError(f"{path} is not a readable .safetensors file ({_first_line(exc)})") from None
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            raise ValueError(f"{path} holds pickled Python objects (a whole module?), not a state dict: "
                             "torch.load(weights_only=True) refuses to run pickled code; save "
                             "model.state_dict() instead") from None
        raise ValueError(f"{path} is not a readable torch file ({_first_line(exc)})") from None
    except Exception as exc:  # truncated zip archives, garbage bytes, legacy formats: one line, not a traceback
        raise ValueError(f"{path} is not a readable torch file ({_first_line(exc)})") from None
    if isinstance(loaded, dict) and "state_dict" in loaded and isinstance(loaded["state_dict"], dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise ValueError(f"{path} does not hold a state dict of tensors")
    return loaded


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]


# Module names that mean a branch beside the Linear/Conv2d chain (the state dict cannot say how it joins).
_BRANCH_WORDS = ("shortcut", "downsample", "skip", "residual", "attn", "attention")


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
        branch = [word for word in _BRANCH_WORDS if word in name.lower()]
        if branch:
            raise ValueError(f"layer {name!r} looks like a {branch[0]} branch: only a plain chain of Linear/Conv2d "
                             "layers with a ReLU between consecutive ones can be certified (no skip connections)")
        kind = _layer_kind(name, tensors)
        specs.append(StateLayer(name, kind, tensors["weight"], tensors.get("bias")))
    check_chain(specs)
    return specs


def check_chain(specs: list[StateLayer]) -> None:
    """Refuse what a chain ``layer → ReLU → layer → …`` cannot be.

    Consecutive Linear layers must have matching widths, and two layers at adjacent indices of the
    same ``torch.nn.Sequential`` (``0`` then ``1``) have no module, hence no ReLU, between them. The
    activation itself is not in a state dict: a model with another activation (tanh, GELU, ...) would
    be certified as its ReLU twin, so ``lth ticket --help`` says ReLU is assumed.
    """
    for before, after in zip(specs[:-1], specs[1:]):
        if before.kind == after.kind == "Linear" and after.weight.shape[1] != before.weight.shape[0]:
            raise ValueError(f"layer {after.name!r} takes {after.weight.shape[1]} inputs but layer {before.name!r} "
                             f"gives {before.weight.shape[0]}: the keys do not form a Linear chain")
        parent_a, _, index_a = before.name.rpartition(".")
        parent_b, _, index_b = after.name.rpartition(".")
        if parent_a == parent_b and index_a.isdigit() and index_b.isdigit() and int(index_b) == int(index_a) + 1:
            raise ValueError(f"layers {before.name!r} and {after.name!r} are adjacent in their Sequential: no ReLU "
                             "between them, which the construction needs")


def target_from_specs(specs: list[StateLayer]) -> Target:
    """The float64 :class:`Target` of parsed Linear layers (non-finite or mismatched shapes are refused)."""
    import torch

    from lth.theory.dense import Target

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
    from lth.theory.dense import Domain

    if args.domain in (None, "ball"):
        if not args.radius > 0:
            raise ValueError(f"--radius must be positive, got {args.radius}")
        return Domain("ball", radius=args.radius)
    lo, hi = args.box
    if not lo < hi:
        raise ValueError(f"--box needs LO < HI, got {lo} {hi}")
    return Domain("box", lo=(lo,) * d0, hi=(hi,) * d0)


def output_path(args: argparse.Namespace) -> Path:
    """The ticket file, refused before any work when it (or its ``.json`` beside it) cannot be written
    (:func:`lth.validate.out_file`: a folder in its place, a missing folder, or one where no file can
    be created)."""
    out = args.out or args.model.with_name(args.model.stem + ".ticket.pt")
    for path in (out, Path(str(out) + ".json")):
        try:
            out_file(str(path))
        except argparse.ArgumentTypeError as exc:
            raise ValueError(f"--out: {exc}") from None
    return out


def available_memory(device: torch.device) -> int | None:
    """Bytes free on ``device`` (GPU memory or available RAM), None when unknown."""
    import torch

    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        return None


def estimate_dense_bytes(widths: list[int], units: list[int]) -> int:
    """Peak bytes of the dense construction: the random pairs ``[m·d_in, d_in]``, ``[d_out, m·d_in]``
    float64 (kept to the end), and for the largest block the products ``[d_out, d_in, m]`` with a few
    same-sized temporaries (subset-sum tables are built in bounded chunks)."""
    weights = sum(m * a * a + b * m * a for a, b, m in zip(widths[:-1], widths[1:], units))
    block = max(6 * b * a * m for a, b, m in zip(widths[:-1], widths[1:], units))
    return 8 * (weights + block)


def check_memory(estimate: int, device: torch.device) -> None:
    """Refuse a construction whose estimate exceeds the free memory of ``device``."""
    free = available_memory(device)
    if free is not None and estimate > free:
        raise ValueError(f"the random network and its construction need about {estimate / 2**30:.1f} GiB on "
                         f"{device.type}, only {free / 2**30:.1f} GiB are free; raise --eps, drop --rescale "
                         "or use a smaller model")


def make_ticket(args: argparse.Namespace) -> dict:
    """Build, certify and save the ticket described by the parsed command line; returns the report."""
    import torch
    from tqdm.auto import tqdm

    from lth.theory.dense import (DEFAULT_C, bound_units_per_input, build_ticket, certify_sup_error, check_norms,
                              over_parameterisation, rescale, search_sup_error)
    from lth.theory.device import resolve_device

    out = output_path(args)
    specs = parse_layers(load_state_dict(args.model))
    if any(spec.kind == "Conv2d" for spec in specs):
        return make_conv_ticket(args, specs, out)
    for label, value in (("--eps", args.eps), ("--delta", args.delta)):
        if not 0 < value < 1:
            raise ValueError(f"{label} must lie in (0, 1), got {value}")
    device = resolve_device(args.device)
    c = DEFAULT_C if args.c is None else args.c
    target = target_from_specs(specs)
    factor = 1.0
    if args.rescale:
        target, factor = rescale(target)
    else:
        check_norms(target)
    domain = _domain(args, target.widths[0])
    signed = domain.kind == "ball" or min(domain.lo) < 0
    widths = [w.shape[1] for w in target.augmented()] + [target.widths[-1]]
    units = [bound_units_per_input(a, b, target.depth, args.eps * factor, args.delta, c)
             for a, b in zip(widths[:-1], widths[1:])]
    check_memory(estimate_dense_bytes(widths, units), device)
    _note_dense_scope(args, domain, factor, target.widths[0])
    stages = tqdm(total=3, desc="lth ticket", disable=args.no_progress)
    stages.set_postfix_str("random network + masks")
    net, ticket = build_ticket(target, args.eps * factor, args.delta, seed=args.seed, device=device, c=c,
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
    saved = {"state_dict": {k: v.cpu() for k, v in sequential.state_dict().items()},
             "masks": [m.cpu() for m in ticket.masks], "seed": args.seed, "fan_out": net.units_per_input,
             "architecture": [type(m).__name__ for m in sequential]}
    write_atomic(out, lambda handle: torch.save(saved, handle))
    report = {"model": str(args.model), "ticket": str(out), "eps": args.eps, "delta": args.delta, "c": c,
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


def _note(text: str) -> None:
    """One line on stderr before the work starts (what the certificate will and will not cover)."""
    print(f"lth ticket: {text}", file=sys.stderr)


def _note_dense_scope(args: argparse.Namespace, domain: Domain, factor: float, d0: int) -> None:
    if factor != 1.0:
        _note(f"rescale factor {1 / factor:.4g} (product of the layer norms): --eps {args.eps:g} is "
              f"{args.eps * factor:.3g} on the normalised network, which sets the width")
    if args.domain is None:
        _note(f"certifying on the unit ball ||x||_2 <= 1 (the default); data in [0, 1]^{d0} reaches norm "
              f"{math.sqrt(d0):.3g}: pass --domain box --box 0 1 (or --radius) to cover your data")


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

def check_cnn_reach(layers: list[tuple[str, torch.Tensor, str]], input_shape: tuple[int, int, int], eps: float,
                    rescale: bool, n_max: int, seed: int) -> None:
    """Before the construction: the rescale factor, the ε it implies on the normalised network, and a
    sampled estimate of what ``n_max`` channels reach per layer; refuse when a layer will not reach it,
    suggesting the ε that would work."""
    import torch

    from lth.theory.conv import check_layer_norms, estimate_layer_error, flatten_specs
    from lth.theory.device import generator

    specs = flatten_specs([(k, w.to(torch.float64), p) for k, w, p in layers], input_shape)
    specs, factor = check_layer_norms(specs, rescale)
    per_layer = eps / factor / (2 * len(specs))
    if factor != 1.0:
        _note(f"rescale factor {factor:.6g} (product of the layers' max-norm operator norms): --eps {eps:g} is "
              f"{eps / factor:.3g} on the normalised network, {per_layer:.3g} per layer")
    _note("certified on inputs in [0, 1]^(C×H×W) only: data normalised by mean/std lies outside it")
    gen = generator(seed, torch.device("cpu"))
    reach = [estimate_layer_error(spec, n_max, gen) for spec in specs]
    worst = max(range(len(reach)), key=lambda i: reach[i])
    if reach[worst] > per_layer:
        need = factor * 2 * len(specs) * max(reach)
        raise ValueError(f"with --n-max {n_max}, layer {worst} reaches about {reach[worst]:.3g} (sampled estimate) "
                         f"but needs {per_layer:.3g} = eps / {factor:.4g} / (2·{len(specs)}); an --eps of about "
                         f"{need:.3g} or more is reachable, or raise --n-max (cost grows as 2^(n/2)), or train "
                         "with smaller weights so that the rescale factor drops")


def make_conv_ticket(args: argparse.Namespace, specs: list[StateLayer], out: Path) -> dict:
    """State dicts with Conv2d layers: da Cunha et al.'s construction (``lth.theory.conv``), certified in the
    max-norm over ``[0,1]^{C×H×W}``; stride 1, no biases, flattened before the first Linear. ``--eps`` is
    in the model's units; with ``--rescale``, eps / (product of layer norms) must lie in (0, 1)."""
    import torch

    from lth.theory.conv import construct_cnn_ticket, ticket_modules, ticket_sequential
    from lth.theory.device import generator, resolve_device

    if not args.eps > 0:
        raise ValueError(f"--eps must be positive, got {args.eps}")
    if args.input_shape is None:
        names = ", ".join(repr(s.name) for s in specs if s.kind == "Conv2d")
        raise ValueError(f"Conv2d layers ({names}) need --input-shape C H W (inputs in [0, 1]) and --padding")
    channels, height, width = args.input_shape
    if height != width or min(args.input_shape) < 1:
        raise ValueError(f"--input-shape {channels} {height} {width}: the CNN construction takes square inputs "
                         "(H = W) only; pad or crop the images to a square")
    if args.domain == "box" and tuple(args.box) != (0.0, 1.0):
        raise ValueError("CNN tickets are certified on the box [0, 1] only (the lemma's domain); "
                         "rescale the inputs to [0, 1]")
    if args.n_max < 4:
        raise ValueError(f"--n-max must be at least 4, got {args.n_max}")
    device = resolve_device(args.device)
    layers = layers_from_state([(s.name, s.weight.detach(), s.bias) for s in specs], args.padding)
    check_cnn_reach(layers, tuple(args.input_shape), args.eps, args.rescale, args.n_max, args.seed)
    report = construct_cnn_ticket(layers, tuple(args.input_shape), args.eps, generator(args.seed, device),
                                  rescale=args.rescale, n_range=(4, args.n_max), restarts=args.restarts,
                                  steps=args.steps, progress=not args.no_progress)
    saved = {"state_dict": ticket_sequential(report.ticket).state_dict(), "seed": args.seed,
             "modules": ticket_modules(report.ticket)}
    write_atomic(out, lambda handle: torch.save(saved, handle))
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
                              description="MODEL is a state dict (.pt, .safetensors) of Linear (or Conv2d) layers with "
                              "a ReLU between consecutive layers: the activations are not in a state dict, so ReLU is "
                              "assumed; skip connections and norm layers are refused. Exit 0 when the certified "
                              "error is <= eps, 1 if not, 2 on bad input.")
    p.add_argument("model", type=input_file,
                   help="state dict file (.pt/.pth via torch.load(weights_only=True), or .safetensors)")
    p.add_argument("--eps", type=finite_float(0, lo_open=True), required=True,
                   help="target sup error, in (0, 1) (CNN models: any positive value, in the model's units)")
    p.add_argument("--delta", type=finite_float(0, 1, lo_open=True, hi_open=True), default=0.01,
                   help="failure probability in the width rule, in (0, 1)")
    p.add_argument("--domain", choices=("ball", "box"), default=None,
                   help="ball: ||x||_2 <= radius (the theorem's, the default); box: every coordinate in [LO, HI]")
    p.add_argument("--radius", type=finite_float(0, lo_open=True), default=1.0, help="ball radius")
    p.add_argument("--box", type=finite_float(), nargs=2, default=(0.0, 1.0), metavar=("LO", "HI"), help="box bounds")
    p.add_argument("--rescale", action="store_true",
                   help="divide layers with ||W_i||_2 > 1 by their norm (biases accordingly) and undo at the output")
    p.add_argument("--c", type=finite_float(0, lo_open=True), default=None,
                   help="width constant C of the theorem (default: lth.theory.dense.DEFAULT_C, measured by slth.dense.rule)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the random network")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    p.add_argument("--out", type=out_file, default=None, help="ticket file (default MODEL.ticket.pt)")
    p.add_argument("--restarts", type=positive_int, default=16, help="gradient-ascent restarts of the error search")
    p.add_argument("--steps", type=positive_int, default=60, help="gradient-ascent steps per restart")
    p.add_argument("--samples", type=positive_int, default=2048, help="random inputs tried by the error search")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--input-shape", type=positive_int, nargs=3, default=None, metavar=("C", "H", "W"),
                   help="CNN models: input shape (inputs in [0, 1]; H = W)")
    p.add_argument("--padding", nargs="+", choices=("valid", "same"), default=["valid"],
                   help="CNN models: padding of each Conv2d layer (stride 1), or one for all")
    p.add_argument("--n-max", type=int_at_least(4), default=32, help="CNN models: most random channels per target kernel")
    p.set_defaults(func=_run)


def load_ticket(path: Path) -> torch.nn.Sequential:
    """Rebuild the pruned ``torch.nn.Sequential`` from a ticket file, with plain torch only."""
    import torch

    from lth.theory.conv import build_modules

    saved = torch.load(path, map_location="cpu", weights_only=True)
    state = saved["state_dict"]
    if "modules" in saved:  # a CNN ticket (lth.theory.conv)
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
