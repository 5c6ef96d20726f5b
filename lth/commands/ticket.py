"""``lth ticket``: a certified strong lottery ticket for a user's own ReLU network.

The object: a state dict of an alternating Linear/ReLU network (``.pt`` read with
``torch.load(weights_only=True)``, or ``.safetensors``) is parsed into a list of
:class:`StateLayer` (one per parameterised module, in state-dict order); a ReLU is assumed between
consecutive layers and none after the last. A random network is pruned by one of
:data:`CONSTRUCTIONS` (``--construction``) and the sup error over the domain is certified:

* ``pensia`` (the default): Pensia et al.'s 2L layers of U[−1, 1] weights (``lth.theory.dense``), at the
  width rule with the measured constant ``--c``;
* ``orseau``: Orseau, Hutter & Rivasplata's hyperbolic weights with binary decomposition
  (``lth.theory.hyperbolic``), 2L layers at Theorem H's proven width;
* ``burkholz-l1``: Burkholz's depth-(L+1) source (``lth.theory.depth``, ReLU), at Theorem B's proven
  widths, for targets without biases.

State dicts with Conv2d layers go to :func:`make_conv_ticket` (da Cunha et al.'s construction,
``lth.theory.conv``; needs ``--input-shape`` and ``--padding``, certified over ``[0,1]^{C×H×W}``).

Outputs: ``--out FILE`` (a ``torch.save`` dict: the pruned ``torch.nn.Sequential``'s state dict, the
masks on the random weights, the random seed, what regenerates the random network (Pensia and Orseau:
the hidden units per input, key ``fan_out``, and Orseau's binary digits ``bits``; Burkholz: ``copies``
and ``scale``), the module list ``architecture`` and, for every construction but Pensia's (whose files
predate the flag), its name ``construction``; :func:`load_ticket` shows how plain torch rebuilds it)
and ``FILE.json`` (certificate, construction and its parameters, widths, provenance).

With ``--llama-layer L``, MODEL is a Llama-style LM (``smollm2``, a ``.gguf`` file, a model folder, or ``tiny``)
and :func:`make_llama_ticket` tickets maps of its decoder layer ``L``
(:mod:`lth.simulations.minitron.certified_layer`, the measurement of the claim ``slth.llama.layer``): the
ticket file holds, per map, the seed, units per input, shape and packed second-layer mask
(:func:`load_llama_ticket` rebuilds the ticket bit for bit), and ``FILE.json`` the claim's numbers with
per-map certificates and counts, the judged certificate and the verdict. Every refusal for it is made from
the flags and the model's config before a weight is read.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from lth.store import write_atomic, write_json
from lth.validate import (DEVICE_CHOICES, finite_float, input_file, int_at_least, non_negative_int, out_file,
                          positive_int)

if TYPE_CHECKING:  # torch and the constructions are imported where they are used: a refusal answers at once
    import torch

    from lth.theory.conv import TicketReport
    from lth.theory.dense import Domain, Target
    from lth.theory.objects import Certificate

_PARAMETER_NAMES = ("weight", "bias")

# --construction: name -> what it is (the sidecar's description; --help says it in short)
CONSTRUCTIONS = {
    "pensia": "Pensia et al. 2020: 2L layers of U[-1,1] weights, a subset sum per target weight; width rule "
              "m = 2·ceil(C·ln(d_in·d_out·L/min(eps, delta))) units per input with the measured constant C (--c)",
    "orseau": "Orseau, Hutter & Rivasplata 2020: 2L layers of hyperbolic weights (density ∝ 1/|w|), a binary "
              "decomposition per target weight; Theorem H's proven width (proofs/slth_hyperbolic.md)",
    "burkholz-l1": "Burkholz 2022: L+1 layers of uniform weights (a univariate first layer, then copies of every "
                   "target neuron), ReLU, no biases; Theorem B's proven widths (proofs/slth_depth.md)",
}


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


def output_path(args: argparse.Namespace, default: Path | None = None) -> Path:
    """The ticket file (``--out``, else ``default``, else MODEL.ticket.pt beside MODEL), refused before any work
    when it (or its ``.json`` beside it) cannot be written (:func:`lth.validate.out_file`: a folder in its
    place, a missing folder, or one where no file can be created)."""
    out = args.out or default or args.model.with_name(args.model.stem + ".ticket.pt")
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


# Peak memory of `lth ticket` (pensia, ε = 0.05, --rescale) measured with /usr/bin/time on MLPs 128-64-10,
# 384-128-10 and 256-256-10 (2026-12-08), less a 4-3-2 model's as the interpreter's: about 110, 570 and
# 620 MB; the estimate below gives 160, 793 and 827 MB. The earlier formula (one copy of the weights)
# gave 53, 396 and 463 MB, so it could pass a build that then ran out of memory.
DENSE_OVERHEAD_BYTES = 64 * 2**20


def estimate_dense_bytes(widths: list[int], units: list[int]) -> int:
    """Peak bytes of the dense construction: the random pairs ``[m·d_in, d_in]``, ``[d_out, m·d_in]``
    float64 three times (the weights, the masked copy, the pruned Sequential the certificate and the
    search run on), for the largest block the products ``[d_out, d_in, m]`` with a few same-sized
    temporaries (subset-sum tables are built in bounded chunks), and a fixed overhead."""
    weights = sum(m * a * a + b * m * a for a, b, m in zip(widths[:-1], widths[1:], units))
    block = max(6 * b * a * m for a, b, m in zip(widths[:-1], widths[1:], units))
    return 8 * (3 * weights + block) + DENSE_OVERHEAD_BYTES


def estimate_hyperbolic_bytes(widths: list[int], units: list[int]) -> int:
    """Peak bytes of Orseau's construction: the random pairs as in :func:`estimate_dense_bytes` four times
    (the weights, the masked copy, the pruned Sequential the search runs on, one spare: measured peaks were
    0.8-1.0 of three copies) and for the largest block the products ``[d_out, d_in, m]`` with the same-sized
    temporaries of one step of the binary decomposition."""
    weights = sum(m * a * a + b * m * a for a, b, m in zip(widths[:-1], widths[1:], units))
    block = max(b * a * m for a, b, m in zip(widths[:-1], widths[1:], units))
    return 8 * (4 * weights + 8 * block)


def depth_shapes(widths: list[int], copies: list[int]) -> list[tuple[int, int]]:
    """Shapes of the $L+1$ random matrices of the depth-(L+1) source (``lth.theory.depth``): ``[ρ_0 d_0, d_0]``,
    then ``[rows_l, ρ_{l−1} d_{l−1}]`` (``rows_per_layer``: ``ρ_l d_l`` copies, ``d_L`` outputs for the last)."""
    from lth.theory.depth import rows_per_layer

    rows = rows_per_layer(widths, copies)
    return [(copies[0] * widths[0], widths[0])] + [(r, copies[l] * widths[l]) for l, r in enumerate(rows)]


def estimate_depth_bytes(widths: list[int], copies: list[int]) -> int:
    """Peak bytes of Burkholz's construction: its random matrices float64 with the masked copy the
    certificate reads, and for the largest matrix the first layer's products with a few same-sized
    temporaries (subset sums run per input on blocks of ``pool_cap`` units); measured peaks above the
    interpreter's were 0.75 of this on 6-5-3 and 8-6-4 targets."""
    sizes = [r * c for r, c in depth_shapes(widths, copies)]
    return 8 * (2 * sum(sizes) + 5 * max(sizes))


def check_memory(estimate: int, device: torch.device) -> None:
    """Refuse a construction whose estimate exceeds the free memory of ``device``."""
    free = available_memory(device)
    if free is not None and estimate > free:
        raise ValueError(f"the random network and its construction need about {estimate / 2**30:.1f} GiB on "
                         f"{device.type}, only {free / 2**30:.1f} GiB are free; raise --eps, drop --rescale "
                         "or use a smaller model")


# ---------------------------------------------------------------------------------------------------
# The constructions behind --construction: plan (widths, before any weight is drawn), build, certify, search


@dataclass(frozen=True)
class Plan:
    """A construction's random network, fixed before any weight is drawn: ``parameters`` (the sidecar's
    ``construction_parameters``: widths, constants, tolerances), ``summary`` (top-level report entries:
    Pensia's ``c`` and ``fan_out``, Orseau's ``fan_out``, Burkholz's ``copies``) and the peak-memory
    estimate ``bytes``."""

    parameters: dict
    summary: dict
    bytes: int


@dataclass(frozen=True)
class Built:
    """A built ticket in the user's units: the pruned ``sequential`` (float64, Linear and ReLU, a final
    diagonal Linear undoing a rescaling), the rigorous ``certificate``, the searched error ``empirical``
    (a lower bound on the sup), ``file_keys`` kept beside the weights in the ticket file, the random
    network's matrix ``random_widths`` (rows) and ``random_parameters``, the ``kept`` entries and
    ``extras`` for the report (Pensia and Orseau: the per-weight union bound)."""

    sequential: torch.nn.Sequential
    certificate: Certificate
    empirical: float
    file_keys: dict
    random_widths: list[int]
    random_parameters: int
    kept: int
    extras: dict


def augmented_widths(target: Target) -> list[int]:
    """``[d_0 (+1 with biases), …, d_L]``: the widths of the unbiased network on $(x, 1)$ that the 2L-layer
    constructions build."""
    return [w.shape[1] for w in target.augmented()] + [target.widths[-1]]


def plan_pensia(target: Target, eps: float, delta: float, signed: bool, c: float | None) -> Plan:
    from lth.theory.dense import DEFAULT_C, DEFAULT_POOL_CAP, bound_units_per_input

    c = DEFAULT_C if c is None else c
    widths = augmented_widths(target)
    units = [bound_units_per_input(a, b, target.depth, eps, delta, c) for a, b in zip(widths[:-1], widths[1:])]
    return Plan({"c": c, "units_per_input": units, "pool_cap": DEFAULT_POOL_CAP, "pool_rule": "largest",
                 "signed_input": signed}, {"c": c, "fan_out": units}, estimate_dense_bytes(widths, units))


def plan_orseau(target: Target, eps: float, delta: float, signed: bool, c: float | None) -> Plan:
    from lth.theory.dense_bounds import bound_weight_accuracy
    from lth.theory.hyperbolic import (FIRST_LAYER_RANGE, SECOND_LAYER_TOP, block_bits,
                                       bound_proven_hyperbolic_units_per_input)

    widths = augmented_widths(target)
    units = bound_proven_hyperbolic_units_per_input(widths, eps, delta, signed)
    return Plan({"units_per_input": units, "bits": block_bits(widths, eps, signed),
                 "weight_accuracy": bound_weight_accuracy(widths, eps, signed), "signed_input": signed,
                 "first_layer_law": f"H[{FIRST_LAYER_RANGE[0]:g}, {FIRST_LAYER_RANGE[1]:g}]",
                 "second_layer_law": f"H[2^-K_i, {SECOND_LAYER_TOP:g}]"},
                {"fan_out": units}, estimate_hyperbolic_bytes(widths, units))


def plan_burkholz(target: Target, eps: float, delta: float, signed: bool, c: float | None) -> Plan:
    from lth.theory.depth import activation, bound_proven_copies, row_sum_bounds

    row_sums = row_sum_bounds(target)
    bound = bound_proven_copies(target.widths, eps, delta, activation("relu"), row_sums)
    return Plan({"activation": "relu", "copies": bound.copies, "scale": bound.scale,
                 "weight_accuracy": bound.accuracy, "pools": bound.pools, "row_sums": row_sums},
                {"copies": bound.copies}, estimate_depth_bytes(target.widths, bound.copies))


def _dense_built(target: Target, ticket, domain: Domain, args: argparse.Namespace, file_keys: dict,
                 stages) -> Built:
    """Certificate and search of a 2L-layer ticket (``lth.theory.dense``), already in the user's units."""
    from lth.theory.dense import certify_sup_error, search_sup_error

    stages.set_postfix_str("certificate")
    cert = certify_sup_error(target, ticket, domain)
    stages.update()
    stages.set_postfix_str("search")
    search = search_sup_error(target, ticket, domain, restarts=args.restarts, steps=args.steps,
                              samples=args.samples, seed=args.seed)
    stages.update()
    net = ticket.random
    return Built(ticket.sequential(), cert, search.error, {"masks": [m.cpu() for m in ticket.masks],
                                                          "seed": args.seed, **file_keys},
                 [w.shape[0] for w in net.weights], net.parameters, ticket.kept,
                 {"union_bound": cert.parts["union_bound"]})


def build_pensia(target: Target, plan: Plan, factor: float, domain: Domain, args: argparse.Namespace,
                 device: torch.device, stages) -> Built:
    from lth.theory.dense import build_ticket

    stages.set_postfix_str("random network + masks")
    net, ticket = build_ticket(target, args.eps * factor, args.delta, seed=args.seed, device=device,
                               c=plan.parameters["c"], units_per_input=plan.parameters["units_per_input"],
                               signed_input=plan.parameters["signed_input"], output_scale=1 / factor)
    stages.update()
    return _dense_built(target, ticket, domain, args, {"fan_out": net.units_per_input}, stages)


def build_orseau(target: Target, plan: Plan, factor: float, domain: Domain, args: argparse.Namespace,
                 device: torch.device, stages) -> Built:
    from lth.theory.dense import Target as DenseTarget
    from lth.theory.hyperbolic import construct_hyperbolic_network, construct_hyperbolic_ticket

    stages.set_postfix_str("hyperbolic network + binary decomposition")
    units, bits = plan.parameters["units_per_input"], plan.parameters["bits"]
    net = construct_hyperbolic_network(augmented_widths(target), units, bits, args.seed, device)
    on_device = DenseTarget([w.to(device) for w in target.weights],
                            [None if b is None else b.to(device) for b in target.biases])
    ticket = construct_hyperbolic_ticket(on_device, net, plan.parameters["weight_accuracy"],
                                         signed_input=plan.parameters["signed_input"])
    # the rule has no output scale of its own: the ticket approximates the normalised target, and the
    # certificate, the search and the Sequential of lth.theory.dense read output_scale to undo it
    ticket = dataclasses.replace(ticket, output_scale=1 / factor)
    stages.update()
    built = _dense_built(target, ticket, domain, args, {"fan_out": units, "bits": bits, "construction": "orseau"},
                         stages)
    unfinished = sum(ticket.info["unfinished_branches"])
    return dataclasses.replace(built, extras={**built.extras, "unfinished_branches": unfinished})


def build_burkholz(target: Target, plan: Plan, factor: float, domain: Domain, args: argparse.Namespace,
                   device: torch.device, stages) -> Built:
    import torch

    from lth.theory.dense import Target as DenseTarget
    from lth.theory.depth import (activation, certify_sup_error, construct_depth_network, construct_depth_ticket,
                                  search_sup_error)
    from lth.theory.numerics import up

    stages.set_postfix_str("depth-(L+1) network + masks")
    copies, scale = plan.parameters["copies"], plan.parameters["scale"]
    network = construct_depth_network(target.widths, copies, scale, args.seed, device)
    on_device = DenseTarget([w.to(device) for w in target.weights], [None] * target.depth)
    ticket = construct_depth_ticket(on_device, network, activation("relu"),
                                    tolerance=plan.parameters["weight_accuracy"])
    stages.update()
    stages.set_postfix_str("certificate")
    # the library certifies and searches the normalised pair; 1/factor carries both to the user's units
    # (one rounding of the product, covered by up)
    cert = certify_sup_error(target, ticket, domain)
    if factor != 1.0:
        cert = dataclasses.replace(cert, value=up(cert.value / factor))
    stages.update()
    stages.set_postfix_str("search")
    search = search_sup_error(target, ticket, domain, restarts=args.restarts, steps=args.steps,
                              samples=args.samples, seed=args.seed)
    stages.update()
    sequential = ticket.sequential()
    if factor != 1.0:
        d = target.widths[-1]
        undo = torch.nn.Linear(d, d, bias=False, dtype=torch.float64, device=device)
        with torch.no_grad():
            undo.weight.copy_(torch.eye(d, dtype=torch.float64) / factor)
        sequential.append(undo)
    return Built(sequential, cert, search.error / factor,
                 {"masks": [m.cpu() for m in ticket.masks], "seed": args.seed, "copies": copies, "scale": scale,
                  "construction": "burkholz-l1"},
                 network.widths, network.parameters, ticket.kept, {})


def unbiased_target(specs: list[StateLayer], target: Target) -> Target:
    """``target`` without its biases, refused (naming the layer) when one is non-zero: Burkholz's
    depth-(L+1) construction is built here for unbiased targets only."""
    for spec in specs:
        if spec.bias is not None and bool((spec.bias != 0).any()):
            raise ValueError(f"--construction burkholz-l1: layer {spec.name!r} has a non-zero bias, and the "
                             "depth-(L+1) construction is built for targets without biases (train with bias=False, "
                             "or use --construction pensia or orseau)")
    return dataclasses.replace(target, biases=[None] * target.depth)


def entry_rescale(target: Target) -> tuple[Target, float]:
    """Divide each (unbiased) ``W_l`` with $\\max|w_{ij}| > 1$ by that entry: ``(rescaled target, c)`` with the
    rescaled network computing ``c·f(x)`` (ReLU is positively homogeneous)."""
    factor, weights = 1.0, []
    for w in target.weights:
        largest = float(w.abs().max())
        s = 1.0 / largest if largest > 1 else 1.0
        factor *= s
        weights.append(w * s)
    return dataclasses.replace(target, weights=weights), factor


def check_entries(target: Target) -> None:
    """Theorem B's hypothesis $|w_{ij}| \\le 1$ (its pools cover [−1, 1]); refused naming ``--rescale``."""
    from lth.theory.dense import NORM_TOLERANCE

    bad = [(i + 1, float(w.abs().max())) for i, w in enumerate(target.weights)
           if float(w.abs().max()) > 1 + NORM_TOLERANCE]
    if bad:
        listing = ", ".join(f"layer {i}: max |w| = {v:.4g}" for i, v in bad)
        raise ValueError(f"--construction burkholz-l1 needs every |w_ij| <= 1 ({listing}); lth ticket --rescale "
                         "divides each such layer by its largest entry and undoes the scaling at the output")


def normalise(name: str, target: Target, rescale: bool) -> tuple[Target, float]:
    """The target the construction is built for and the factor ``c`` with ``normalised = c·target``: Pensia's
    and Orseau's theorems need ‖W_i‖₂ ≤ 1, Burkholz's |w_ij| ≤ 1; without ``rescale`` a violation is
    refused."""
    from lth.theory.dense import check_norms, rescale as norm_rescale

    if name == "burkholz-l1":
        if rescale:
            return entry_rescale(target)
        check_entries(target)
        return target, 1.0
    if rescale:
        return norm_rescale(target)
    check_norms(target)
    return target, 1.0


PLANS: dict[str, Callable[..., Plan]] = {"pensia": plan_pensia, "orseau": plan_orseau, "burkholz-l1": plan_burkholz}
BUILDERS: dict[str, Callable[..., Built]] = {"pensia": build_pensia, "orseau": build_orseau,
                                            "burkholz-l1": build_burkholz}


def refuse_construction_flags(args: argparse.Namespace) -> None:
    """Flags the chosen construction has no use for, refused before the model is read."""
    if args.c is not None and args.construction not in (None, "pensia"):
        raise ValueError(f"--c is the constant of Pensia's width rule; --construction {args.construction} takes its "
                         "theorem's proven width, which has no such constant (leave --c out)")


# Flags that only one kind of model reads: given to the other kind they would be ignored without a word.
CNN_ONLY = ("input_shape", "padding", "n_max")
MLP_ONLY = ("construction", "c")


def refuse_other_kinds_flags(args: argparse.Namespace, conv: bool) -> None:
    """Refuse (ValueError, exit 2) a flag the model's kind does not read, before anything is built."""
    names = MLP_ONLY if conv else CNN_ONLY
    shown = lambda v: " ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)  # noqa: E731
    given = [f"{_flag(k)} {shown(getattr(args, k))}" for k in names
             if _listed(getattr(args, k)) != _listed(MLP_DEFAULTS[k])]
    if given:
        kind, other = ("a CNN (Conv2d layers)", "MLPs") if conv else ("an MLP (Linear layers only)", "CNNs")
        raise ValueError(f"{', '.join(given)} {_are(given)} for {other} only; {args.model} is {kind}")


def make_ticket(args: argparse.Namespace) -> dict:
    """Build, certify and save the ticket described by the parsed command line; returns the report."""
    out = output_path(args)
    refuse_construction_flags(args)  # before torch is imported: a refusal answers at once

    import torch
    from tqdm.auto import tqdm

    from lth.theory.device import resolve_device

    specs = parse_layers(load_state_dict(args.model))
    conv = any(spec.kind == "Conv2d" for spec in specs)
    refuse_other_kinds_flags(args, conv)
    if conv:
        return make_conv_ticket(args, specs, out)
    for label, value in (("--eps", args.eps), ("--delta", args.delta)):
        if not 0 < value < 1:
            raise ValueError(f"{label} must lie in (0, 1), got {value}")
    name = args.construction or "pensia"
    device = resolve_device(args.device)
    target = target_from_specs(specs)
    if name == "burkholz-l1":
        target = unbiased_target(specs, target)
    target, factor = normalise(name, target, args.rescale)
    domain = _domain(args, target.widths[0])
    signed = domain.kind == "ball" or min(domain.lo) < 0
    plan = PLANS[name](target, args.eps * factor, args.delta, signed, args.c)
    check_memory(plan.bytes, device)
    _note_dense_scope(args, domain, factor, target, name)
    stages = tqdm(total=3, desc="lth ticket", disable=args.no_progress)
    built = BUILDERS[name](target, plan, factor, domain, args, device, stages)
    stages.close()
    sequential = built.sequential
    saved = {"state_dict": {k: v.cpu() for k, v in sequential.state_dict().items()}, **built.file_keys,
             "architecture": [type(m).__name__ for m in sequential]}
    write_atomic(out, lambda handle: torch.save(saved, handle))
    cert = built.certificate
    report = {"model": str(args.model), "ticket": str(out), "construction": name, "eps": args.eps,
              "delta": args.delta, **plan.summary,
              "domain": {"kind": domain.kind, "radius": domain.radius if domain.kind == "ball" else None,
                         "box": list(args.box) if domain.kind == "box" else None},
              "target_widths": target.widths, "target_parameters": target.parameters,
              "rescale_factor": factor, "random_widths": built.random_widths,
              "random_depth": len(built.random_widths), "random_parameters": built.random_parameters,
              "kept_parameters": built.kept, "sparsity": 1 - built.kept / built.random_parameters,
              "over_parameterisation": built.random_parameters / target.parameters,
              "certified_sup_error": cert.value, **built.extras, "empirical_sup_error": built.empirical,
              "certified_label": "rigorous float64 upper bound on sup over the domain of ||f(x) - ticket(x)||_2",
              "empirical_label": "largest error found by sampling + projected gradient ascent (a lower bound)",
              "holds": bool(built.empirical <= cert.value <= args.eps),
              "construction_parameters": {"description": CONSTRUCTIONS[name], **plan.parameters},
              "certificate_domain": cert.domain, "certificate_assumptions": list(cert.assumptions)}
    write_json(Path(str(out) + ".json"), {"ticket": report}, seed=args.seed, device=str(device))
    return report


def _note(text: str) -> None:
    """One line on stderr before the work starts (what the certificate will and will not cover)."""
    print(f"lth ticket: {text}", file=sys.stderr)


def _note_dense_scope(args: argparse.Namespace, domain: Domain, factor: float, target: Target, name: str) -> None:
    d0 = target.widths[0]
    if factor != 1.0:
        norms = "largest entries" if name == "burkholz-l1" else "layer norms"
        _note(f"rescale factor {1 / factor:.4g} (product of the {norms}): --eps {args.eps:g} is "
              f"{args.eps * factor:.3g} on the normalised network, which sets the width")
    if args.domain is None:
        _note(f"certifying on the unit ball ||x||_2 <= 1 (the default); data in [0, 1]^{d0} reaches norm "
              f"{math.sqrt(d0):.3g}: pass --domain box --box 0 1 (or --radius) to cover your data")
    corners = [max(abs(lo), abs(hi)) for lo, hi in zip(domain.lo, domain.hi)] if domain.kind == "box" else []
    l2_reach = domain.radius if domain.kind == "ball" else math.sqrt(sum(v * v for v in corners))
    if name == "orseau" and (target.has_bias or l2_reach > 1):
        _note("Theorem H's proven width aims at eps on the unit ball for a target without biases; here the "
              "certificate decides whether this draw reaches eps")
    if name == "burkholz-l1" and (domain.radius if domain.kind == "ball" else max(corners)) > 1:
        _note("Theorem B's proven widths aim at eps on the box [-1, 1]^d; on a larger domain the certificate "
              "decides whether this draw reaches eps")


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
    print(f"construction       {report['construction']} (depth {report['random_depth']} random network)")
    print(f"target widths      {report['target_widths']} ({report['target_parameters']:,} parameters)")
    if report["rescale_factor"] != 1.0:
        print(f"rescaled by        {report['rescale_factor']:.6g} (undone by a final diagonal layer)")
    shape = (f"{report['fan_out']} hidden units per input" if "fan_out" in report
             else f"rho = {report['copies']}: units per input, then copies per neuron")
    print(f"random widths      {report['random_widths']} ({shape}, {report['random_parameters']:,} parameters, "
          f"{report['over_parameterisation']:.1f}x the target)")
    print(f"kept parameters    {report['kept_parameters']:,} (sparsity {report['sparsity']:.4f})")
    print(f"certified error    {report['certified_sup_error']:.4g} (rigorous sup over the {report['domain']['kind']})")
    print(f"empirical error    {report['empirical_sup_error']:.4g} (search, lower bound on the sup)")
    if "union_bound" in report:
        print(f"per-weight union   {report['union_bound']:.4g}")
    if report.get("unfinished_branches"):
        print(f"unfinished weights {report['unfinished_branches']:,} (a bucket of the binary decomposition ran empty)")
    verdict = "within" if report["holds"] else "NOT within"
    print(f"certified {verdict} eps = {report['eps']:g}")
    print(f"wrote {report['ticket']} and {report['ticket']}.json")


# ---------------------------------------------------------------------------------------------------
# --llama-layer: one decoder layer of a Llama-style LM (lth.theory.llama_layer, claim slth.llama.layer)

# lth.theory.llama_layer.MAPS, kept here without importing torch (tests/test_ticket_llama.py checks they agree)
LLAMA_MAPS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
LLAMA_MODELS = ("smollm2", "tiny")  # names MODEL may take besides a .gguf file or a model folder
# Defaults of the flags that only --llama-layer reads: the quick parameters of slth.llama.layer
# (tests/test_ticket_llama.py checks they agree); restarts and steps are the search's, whose MLP defaults differ.
LLAMA_DEFAULTS = {"maps": ("v_proj",), "units": 64, "pool_cap": 16, "retry_cap": 24, "margin": 2.0, "text": "prose",
                  "heldout": 8, "length": 64, "batch_size": 8, "restarts": 2, "steps": 10}
MLP_SEARCH = {"restarts": 16, "steps": 60}
# Defaults of the flags only MLP and CNN models read (given with --llama-layer, a value other than these is refused).
MLP_DEFAULTS = {"construction": None, "c": None, "delta": 0.01, "domain": None, "radius": 1.0, "box": (0.0, 1.0),
                "rescale": False, "samples": 2048, "input_shape": None, "padding": ["valid"], "n_max": 32}
LLAMA_FORMAT = "lth llama-layer ticket 1"  # the ticket file's "format" key
TINY_STEPS = 120  # pre-training steps of the 'tiny' model: slth.llama.layer's default


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _are(names: list) -> str:
    return "is" if len(names) == 1 else "are"


def _listed(value):
    """Sequences as lists (argparse gives lists where a default may be a tuple)."""
    return list(value) if isinstance(value, (list, tuple)) else value


def model_argument(text: str) -> Path | str:
    """MODEL: a non-empty file (:func:`lth.validate.input_file`), or a Llama model for ``--llama-layer``:
    ``smollm2``, ``tiny`` or a folder (its config is read by the command, before any weight)."""
    if text in LLAMA_MODELS or Path(text).is_dir():
        return text
    return input_file(text)


def _llama_spec(model: Path | str) -> str | None:
    """``model`` as :func:`lth.simulations.minitron.certified_layer.language_model` takes it, or None when it
    is not a Llama model (a state dict file)."""
    if isinstance(model, str) or model.suffix == ".gguf":
        return str(model)
    return None


def refuse_mode_flags(args: argparse.Namespace) -> None:
    """Flags of the other kind of model, refused before anything is read; then the search's defaults of this
    kind are filled in."""
    if args.llama_layer is None:
        if _llama_spec(args.model) is not None:
            raise ValueError(f"{args.model} is not a state dict file: a Llama model (smollm2, a .gguf file or a "
                             "model folder) needs --llama-layer N, the decoder layer to ticket")
        given = [_flag(k) for k in LLAMA_DEFAULTS if k not in MLP_SEARCH and getattr(args, k) is not None]
        if given:
            raise ValueError(f"{', '.join(given)} {_are(given)} for a Llama layer only (--llama-layer N)")
        defaults = MLP_SEARCH
    else:
        given = [_flag(k) for k, v in MLP_DEFAULTS.items() if _listed(getattr(args, k)) != _listed(v)]
        if given:
            raise ValueError(f"{', '.join(given)} {_are(given)} for MLP and CNN state dicts only, not for "
                             "--llama-layer")
        defaults = LLAMA_DEFAULTS
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)


def check_llama_request(args: argparse.Namespace) -> tuple[str, Path]:
    """``(model spec, ticket file)`` for ``--llama-layer``, every refusal made from the flags and the model's
    config alone (no torch, no weight): the model's kind, the layer index, repeated maps, the ticket file, the
    prose source, the margin."""
    from lth.simulations.minitron.certified_layer import model_architecture, text_sources
    from lth.simulations.minitron.corpus import require_prose

    spec = _llama_spec(args.model)
    if spec is None:
        raise ValueError(f"--llama-layer reads smollm2, tiny, a .gguf file or a Llama model folder, not {args.model}")
    default = Path(f"{Path(spec).stem if spec.endswith('.gguf') else Path(spec).name}-layer{args.llama_layer}"
                   ".ticket.pt")
    out = output_path(args, default)
    if len(set(args.maps)) != len(args.maps):
        raise ValueError(f"--maps names a map twice: {' '.join(args.maps)}")
    layers = model_architecture(spec).layers
    if args.llama_layer >= layers:
        raise ValueError(f"--llama-layer {args.llama_layer} is out of range: {spec} has {layers} decoder layers "
                         f"(0..{layers - 1})")
    if "prose" in text_sources(args.text):
        require_prose()
    return spec, out


def _packed(mask: torch.Tensor) -> torch.Tensor:
    """A bool matrix as bytes, 8 entries each (numpy's packbits along rows)."""
    import numpy as np
    import torch

    return torch.from_numpy(np.packbits(mask.cpu().numpy(), axis=-1))


def _unpacked(packed: torch.Tensor, columns: int) -> torch.Tensor:
    import numpy as np
    import torch

    return torch.from_numpy(np.unpackbits(packed.numpy(), axis=-1, count=columns).astype(bool))


def llama_ticket_file(args: argparse.Namespace, spec: str, ticket) -> dict:
    """What the ticket file holds: per map its seed, units per input, shape and packed second-layer mask (the
    random network is regenerated from the seed), and what names the layer."""
    maps = {name: {"seed": t.seed, "units": t.units, "shape": list(t.realised.weight.shape),
                   "mask": _packed(t.mask)} for name, t in ticket.maps.items()}
    return {"format": LLAMA_FORMAT, "model": spec, "layer": args.llama_layer, "length": args.length,
            "tiny_steps": TINY_STEPS, "maps": maps}


def load_llama_ticket(path: Path, layer=None, device: str = "cpu"):
    """``(DecoderLayer, LayerTicket)`` from a ticket file written by ``lth ticket MODEL --llama-layer L``: each
    map's random network regenerated from its seed (:func:`lth.theory.dense.construct_random_network`) and
    pruned by the saved mask (:func:`lth.theory.llama_layer.realise_map_ticket`), so the ticket computes bit for
    bit what the command measured. ``layer``: the :class:`lth.theory.llama_layer.DecoderLayer` it was built for
    (default: read the model and layer the file names). ``ValueError`` for another kind of file or a layer of
    other shapes."""
    import torch

    from lth.theory.dense import construct_random_network
    from lth.theory.llama_layer import LayerTicket, from_llama, realise_map_ticket

    saved = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(saved, dict) or saved.get("format") != LLAMA_FORMAT:
        raise ValueError(f"{path} is not a Llama-layer ticket (lth ticket MODEL --llama-layer L writes them)")
    if layer is None:
        from lth.simulations.minitron.certified_layer import language_model

        net, _ = language_model(saved["model"], saved["length"], saved["tiny_steps"], device)
        layer = from_llama(net.model.layers[saved["layer"]], net.config)
    maps = {}
    for name, entry in saved["maps"].items():
        d_out, d_in = entry["shape"]
        if tuple(layer.maps[name].shape) != (d_out, d_in):
            raise ValueError(f"{path}: {name} is {d_out}x{d_in}, the layer's is {tuple(layer.maps[name].shape)}")
        net = construct_random_network([d_in, d_out], [entry["units"]], entry["seed"], device)
        mask = _unpacked(entry["mask"], entry["units"] * d_in)
        maps[name] = realise_map_ticket(name, layer.maps[name], net, mask)
    return layer, LayerTicket(maps)


def llama_report(args: argparse.Namespace, spec: str, out: Path, m) -> dict:
    """The sidecar's ``ticket`` entry: the claim's numbers (``LayerMeasurement.details``) in residual-stream units,
    per map its certificate and counts, which certificate is judged against ε, and the verdict."""
    eps = args.eps * m.rho_seen
    details = m.details(eps)
    mlp = any(name in LLAMA_MAPS[4:] for name in args.maps)
    judged = "layer output" if mlp else "post-attention residual"
    certified = details["certified_reached"] if mlp else details["certified_attention"]
    empirical = details["empirical_max"] if mlp else details["empirical_attention"]
    eta = m.reached.parts["eta"]
    per_map = {name: {"target_parameters": m.target.maps[name].numel(), "random_parameters": t.total,
                      "kept_parameters": t.kept, "units": t.units, "seed": t.seed,
                      "certified_error_norm": eta[name],
                      "max_weight_error": float(max(t.realised.err_pos.abs().max(), t.realised.err_neg.abs().max()))}
               for name, t in m.ticket.maps.items()}
    holds = (empirical <= certified <= eps and details["empirical_attention"] <= details["certified_attention"]
             and details["empirical_max"] <= details["certified_reached"])
    return {"model": spec, "ticket": str(out), "architecture": "llama-layer", "construction": "pensia",
            "construction_description": "Pensia et al. 2020, per map: two layers of U[-1,1] weights, `units` hidden "
                                        "units per input (both signs), a subset sum per target weight",
            "pool_cap": args.pool_cap, "retry_cap": args.retry_cap, "text": args.text,
            "heldout": args.heldout, "length": args.length, "eps_fraction": args.eps, "judged": judged,
            "certified_error": certified, "empirical_error": empirical, "holds": bool(holds), "per_map": per_map,
            **details,
            "certified_label": f"rigorous float64 bound on max_t ||.||_2 of the {judged}'s error over every input "
                               "sequence whose target post-attention residuals have norm >= rho (any length)",
            "empirical_label": "largest error found on the held-out windows' hidden states (and, for the "
                               "post-attention residual, an adversarial gradient search from the worst of them): "
                               "a lower bound on the sup",
            "eps_label": "eps_fraction x rho_seen, the smallest post-attention residual norm on the held-out windows",
            "per_map_label": "certified_error_norm: rigorous eta with ||E+ u+ - E- u-||_2 <= eta ||u||_2 for the "
                             "map's realised error matrices; max_weight_error: the largest entry of |E+|, |E-|",
            "empirical_row": "measured, not certified: nll, perplexity and nll_difference (95% Student-t interval "
                             "of the paired per-window difference, ticketed - original) on the held-out windows",
            "certificate_domain": m.reached.domain, "certificate_assumptions": list(m.reached.assumptions)}


def check_llama_memory(spec: str, maps: list[str], units: int, device: torch.device) -> None:
    """Refuse, from the model's config, maps whose construction exceeds the free memory of ``device``. Maps are
    built one at a time: the peak is the largest map's random pair ``[m·d_in, d_in]``, ``[d_out, m·d_in]``
    (float64, the first twice: the masks are read from a masked copy) with the row block's products and a few
    same-sized temporaries; the masks of every map stay (one byte per second-layer entry)."""
    from lth.simulations.minitron.certified_layer import model_architecture
    from lth.theory.llama_layer import CHUNK_ELEMENTS

    a = model_architecture(spec)
    attention, kv = a.heads * a.head_dim, a.kv_heads * a.head_dim
    shapes = {"q_proj": (attention, a.hidden), "k_proj": (kv, a.hidden), "v_proj": (kv, a.hidden),
              "o_proj": (a.hidden, attention), "gate_proj": (a.intermediate, a.hidden),
              "up_proj": (a.intermediate, a.hidden), "down_proj": (a.hidden, a.intermediate)}
    peak = max(8 * (2 * units * d_in * d_in + d_out * units * d_in + 6 * CHUNK_ELEMENTS)
               for d_out, d_in in (shapes[name] for name in maps))
    estimate = peak + sum(d_out * units * d_in for d_out, d_in in (shapes[name] for name in maps))
    free = available_memory(device)
    if free is not None and estimate > free:
        raise ValueError(f"the random networks of --maps {' '.join(maps)} need about {estimate / 2**30:.1f} GiB on "
                         f"{device.type}, only {free / 2**30:.1f} GiB are free; lower --units or name fewer maps")


def make_llama_ticket(args: argparse.Namespace) -> dict:
    """Build, certify, measure and save the ticket of one decoder layer; returns the sidecar's report."""
    spec, out = check_llama_request(args)

    import torch

    from lth.commands.minitron import HELDOUT_SEED
    from lth.simulations.minitron.certified_layer import language_model, measure_layer_ticket
    from lth.theory.device import resolve_device

    device = resolve_device(args.device)
    check_llama_memory(spec, args.maps, args.units, device)
    _note(f"eps {args.eps:g} is a fraction of the smallest post-attention residual norm met on the held-out "
          f"windows; certified for sequences whose residuals have norm >= that / {args.margin:g}")
    net, encode = language_model(spec, args.length, TINY_STEPS, str(device))
    m = measure_layer_ticket(net, encode, layer=args.llama_layer, maps=tuple(args.maps), units=args.units,
                             seed=args.seed, pool_cap=args.pool_cap, retry_cap=args.retry_cap, margin=args.margin,
                             text=args.text, heldout=args.heldout, length=args.length, heldout_seed=HELDOUT_SEED,
                             batch_size=args.batch_size, search_restarts=args.restarts, search_steps=args.steps,
                             device=device)
    saved = llama_ticket_file(args, spec, m.ticket)
    write_atomic(out, lambda handle: torch.save(saved, handle))
    report = llama_report(args, spec, out, m)
    write_json(Path(str(out) + ".json"), {"ticket": report}, seed=args.seed, device=str(device))
    return report


def _print_llama_report(r: dict) -> None:
    print(f"layer              {r['layer']} of {r['model']}: maps {', '.join(r['maps'])} "
          f"({r['ticketed_parameters']:,} of the layer's {r['layer_parameters']:,} parameters)")
    print(f"random parameters  {r['random_parameters']:,} ({r['random_per_layer_parameter']:.1f}x the layer's "
          f"parameters; {r['units']} units per input)")
    print(f"kept parameters    {r['kept_parameters']:,}")
    print(f"rho                {r['rho']:.4g} = {r['rho_seen']:.4g} (smallest held-out post-attention residual "
          f"norm) / margin {r['margin']:g}")
    print(f"certified error    {r['certified_error']:.4g} ({r['judged']}, rigorous, residual norms >= rho; "
          f"post-attention {r['certified_attention']:.4g}, layer output {r['certified_reached']:.4g}, layer output "
          f"on every sequence {r['certified_everywhere']:.4g})")
    print(f"empirical error    {r['empirical_error']:.4g} ({r['judged']}, lower bound on the sup; post-attention "
          f"{r['empirical_attention']:.4g} with the search, layer output {r['empirical_max']:.4g} on the windows)")
    nll, ppl = r["nll"], r["perplexity"]
    print(f"held-out NLL       {nll['original']:.4f} -> {nll['ticketed']:.4f} nats (perplexity "
          f"{ppl['original']:.3f} -> {ppl['ticketed']:.3f}; measured, not certified)")
    verdict = "within" if r["holds"] else "NOT within"
    print(f"certified {verdict} eps = {r['eps']:.4g} ({r['eps_fraction']:g} x {r['rho_seen']:.4g})")
    print(f"wrote {r['ticket']} and {r['ticket']}.json")


def _run(args: argparse.Namespace) -> int:
    refuse_mode_flags(args)
    if args.llama_layer is not None:
        report = make_llama_ticket(args)
        _print_llama_report(report)
        return 0 if report["holds"] else 1
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
                              "assumed; skip connections and norm layers are refused. An MLP is pruned from a random "
                              "network by --construction (pensia, orseau or burkholz-l1), a CNN by da Cunha et al.'s "
                              "construction; the sup error over the domain is certified in float64 (rigorous) and "
                              "searched (a lower bound). With --llama-layer L, MODEL is a Llama-style LM (smollm2, a "
                              ".gguf file or a model folder; 'tiny' for tests) and the maps --maps of its decoder layer "
                              "L are replaced by pruned random two-layer ReLU networks (Pensia et al.'s construction, "
                              "one per map; claim slth.llama.layer): the error is certified in float64 through RoPE, "
                              "grouped-query causal softmax, RMSNorm and SwiGLU on every input sequence whose "
                              "post-attention residuals have norm >= rho, rho being the smallest such norm met on "
                              "held-out text divided by --margin, and measured on the held-out windows (with an "
                              "adversarial search) beside the held-out perplexity with the layer replaced (measured, "
                              "not certified). Exit 0 when the certified error is <= eps, 1 if not, 2 on bad input.")
    p.add_argument("model", type=model_argument,
                   help="state dict file (.pt/.pth via torch.load(weights_only=True), or .safetensors); with "
                   "--llama-layer: smollm2 (SmolLM2-135M-Instruct, the packaged GGUF), a .gguf file, a Llama model "
                   "folder, or tiny (a small Llama pre-trained in seconds, for tests)")
    p.add_argument("--eps", type=finite_float(0, lo_open=True), required=True,
                   help="target sup error, in (0, 1) (CNN models: any positive value, in the model's units; "
                   "--llama-layer: any positive fraction of the smallest post-attention residual norm met on the "
                   "held-out windows, the tolerance on the certified error of the post-attention residual when only "
                   "attention maps are replaced, of the layer output when an MLP map is)")
    p.add_argument("--construction", choices=tuple(CONSTRUCTIONS), default=MLP_DEFAULTS["construction"],
                   help="MLP models: pensia (default; 2L layers of U[-1,1] weights, subset sums, width rule with the "
                   "measured constant --c), orseau (Orseau, Hutter & Rivasplata 2020: 2L layers of hyperbolic "
                   "weights, binary decomposition, Theorem H's proven width, needs ||W_i||_2 <= 1) or burkholz-l1 "
                   "(Burkholz 2022: L+1 layers, Theorem B's proven widths, needs a model without biases and "
                   "|w_ij| <= 1; its width grows fast with the model, the memory check refuses what cannot fit)")
    p.add_argument("--delta", type=finite_float(0, 1, lo_open=True, hi_open=True), default=MLP_DEFAULTS["delta"],
                   help="failure probability in the width rule (orseau, burkholz-l1: the theorem's delta), in (0, 1)")
    p.add_argument("--domain", choices=("ball", "box"), default=MLP_DEFAULTS["domain"],
                   help="ball: ||x||_2 <= radius (the default; at radius 1, Pensia's and Orseau's theorems' domain); "
                   "box: every coordinate in [LO, HI] (burkholz-l1's theorem: [-1, 1])")
    p.add_argument("--radius", type=finite_float(0, lo_open=True), default=MLP_DEFAULTS["radius"], help="ball radius")
    p.add_argument("--box", type=finite_float(), nargs=2, default=MLP_DEFAULTS["box"], metavar=("LO", "HI"),
                   help="box bounds")
    p.add_argument("--rescale", action="store_true",
                   help="divide layers with ||W_i||_2 > 1 by their norm (burkholz-l1: with max |w_ij| > 1 by that "
                   "entry; biases accordingly) and undo at the output")
    p.add_argument("--c", type=finite_float(0, lo_open=True), default=MLP_DEFAULTS["c"],
                   help="width constant C of Pensia's rule (default: lth.theory.dense.DEFAULT_C, measured by "
                   "slth.dense.rule); refused with the other constructions, whose widths are proven")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed of the random network (--llama-layer: map i of q_proj, k_proj, v_proj, o_proj, "
                   "gate_proj, up_proj, down_proj is drawn from seed + i)")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    p.add_argument("--out", type=out_file, default=None,
                   help="ticket file (default MODEL.ticket.pt; --llama-layer: NAME-layerL.ticket.pt here)")
    p.add_argument("--restarts", type=positive_int, default=None,
                   help=f"gradient-ascent restarts of the error search (default {MLP_SEARCH['restarts']}; "
                   f"--llama-layer: {LLAMA_DEFAULTS['restarts']}, from the worst held-out windows)")
    p.add_argument("--steps", type=positive_int, default=None,
                   help=f"gradient-ascent steps per restart (default {MLP_SEARCH['steps']}; --llama-layer: "
                   f"{LLAMA_DEFAULTS['steps']})")
    p.add_argument("--samples", type=positive_int, default=MLP_DEFAULTS["samples"],
                   help="random inputs tried by the error search")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--input-shape", type=positive_int, nargs=3, default=MLP_DEFAULTS["input_shape"],
                   metavar=("C", "H", "W"), help="CNN models: input shape (inputs in [0, 1]; H = W)")
    p.add_argument("--padding", nargs="+", choices=("valid", "same"), default=MLP_DEFAULTS["padding"],
                   help="CNN models: padding of each Conv2d layer (stride 1), or one for all")
    p.add_argument("--n-max", type=int_at_least(4), default=MLP_DEFAULTS["n_max"],
                   help="CNN models: most random channels per target kernel")
    llama = p.add_argument_group("Llama layer (--llama-layer; defaults: slth.llama.layer's quick parameters)")
    llama.add_argument("--llama-layer", type=non_negative_int, default=None, metavar="L",
                       help="ticket decoder layer L (0-based; checked against the model's config before any weight "
                       "is read)")
    llama.add_argument("--maps", nargs="+", choices=LLAMA_MAPS, default=None, metavar="MAP",
                       help=f"the layer's linear maps replaced by tickets, from {', '.join(LLAMA_MAPS)} (default "
                       f"{' '.join(LLAMA_DEFAULTS['maps'])}); the query and key maps are approximated separately, "
                       "before the rotary positions, which keep their errors' norms")
    llama.add_argument("--units", type=positive_int, default=None,
                       help=f"hidden units per input of each map's random network (default {LLAMA_DEFAULTS['units']})")
    llama.add_argument("--pool-cap", type=positive_int, default=None,
                       help=f"largest subset-sum pool per weight and sign branch (default {LLAMA_DEFAULTS['pool_cap']})")
    llama.add_argument("--retry-cap", type=positive_int, default=None,
                       help="pool size of a second pass on the 2%% of weights with the largest errors (default "
                       f"{LLAMA_DEFAULTS['retry_cap']}; none when not above --pool-cap)")
    llama.add_argument("--margin", type=finite_float(1), default=None,
                       help="rho = (smallest post-attention residual norm met on the held-out windows) / margin, "
                       f">= 1 so that the windows lie in the certified set (default {LLAMA_DEFAULTS['margin']:g})")
    llama.add_argument("--text", choices=("mixed", "code", "prose"), default=None,
                       help=f"held-out text (default {LLAMA_DEFAULTS['text']}: the Python documentation, needs "
                       "python3-doc; code: the standard library's sources; mixed: half each); the same windows as "
                       "lth minitron evaluate's")
    llama.add_argument("--heldout", type=int_at_least(2), default=None,
                       help=f"held-out windows (default {LLAMA_DEFAULTS['heldout']}; at least 2 for the interval)")
    llama.add_argument("--length", type=int_at_least(2), default=None,
                       help=f"tokens per held-out window (default {LLAMA_DEFAULTS['length']})")
    llama.add_argument("--batch-size", type=positive_int, default=None,
                       help=f"windows per forward pass (default {LLAMA_DEFAULTS['batch_size']})")
    p.set_defaults(func=_run)


def load_ticket(path: Path) -> torch.nn.Sequential:
    """Rebuild the pruned ``torch.nn.Sequential`` from a ticket file, with plain torch only."""
    import torch

    from lth.theory.conv import build_modules

    saved = torch.load(path, map_location="cpu", weights_only=True)
    if saved.get("format") == LLAMA_FORMAT:
        raise ValueError(f"{path} is a Llama-layer ticket: load it with load_llama_ticket")
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
