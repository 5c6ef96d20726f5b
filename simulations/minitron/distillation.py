r"""Recovering a pruned student: logit distillation from the unpruned teacher vs plain fine-tuning.

Both train the student on the same token windows in the same order (drawn from one generator), for
the same number of steps, with the same optimiser; only the loss differs:

* ``ce`` (fine-tuning): next-token cross-entropy $-\frac1{|T|}\sum_t \log p_s(x_{t+1}\mid x_{\le t})$;
* ``kd`` (distillation, Muralidharan et al. 2024 §3): a logit loss averaged over the $|T|$ token
  positions, by default forward KL at temperature 1,
  $L_{\text{logits}} = \frac1{|T|}\sum_t \mathrm{KL}(p_t(\cdot\mid x_{\le t})\,\|\,p_s(\cdot\mid x_{\le t}))$;
  the paper's alternatives (:data:`LOGIT_LOSSES`): reverse KL $\mathrm{KL}(p_s\|p_t)$, the mean squared
  error of the logits, and one minus their cosine; optionally plus ``clm`` times the student's own
  next-token loss (the paper's "with / without $L_{CLM}$" rows),
  plus optionally $\alpha\,L_{is}$, the intermediate-state loss
  $L_{is} = \frac1{|H|}\sum_{(k, t, s)\in H} \|h_s^{k,s} - h_t^{k,t}[C]\|^2 / \|h_t^{k,t}[C]\|^2$ over a set
  $H$ of :class:`StateTerm`\ s: a state kind $k$ (``emb`` the embedding output, ``attn`` / ``mlp`` a
  block's attention / MLP output, ``o`` a block's output; all on the residual stream), a teacher
  block $t$ and a student block $s$ — the talk's $L_o(29{:}13)$ is ``StateTerm("o", 29, 13)`` — and $C$
  the kept residual channels (pruning keeps a channel subset, so no learned projection is needed).
  By default $H$ pairs every student block's output with the teacher block it was kept from
  (:func:`kept_map`). $\alpha$ is a fixed weight or, with ``alpha=None``, computed at every step from
  the ratio of the two losses, $\alpha = L_{logits}/L_{is}$ (detached), so the two terms weigh the same
  (the talk: "α is sometimes computed from the ratio of logits and is").

Optimiser: AdamW (β = 0.9, 0.95, no weight decay), linear warm-up over the first 10% of steps then
cosine decay to 10% of ``lr``, gradient norm clipped at 1.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from lth.simulations.minitron.importance import OnTokens, next_token_nll

METHODS = ("kd", "ce")
LOGIT_LOSSES = ("kld", "rkld", "mse", "cosine")


@dataclass
class TrainingRun:
    """One recovery run: loss per step, tokens seen and wall time."""

    method: str
    steps: int
    tokens: int
    seconds: float
    losses: list[float] = field(default_factory=list)
    alphas: list[float] = field(default_factory=list)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else float("nan")

    def summary(self) -> dict:
        return {"method": self.method, "steps": self.steps, "tokens": self.tokens, "seconds": self.seconds,
                "tokens_per_s": self.tokens_per_s, "losses": list(self.losses),
                **({"alphas": list(self.alphas)} if self.alphas else {})}


def forward_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """Mean over positions of KL(p_teacher || p_student) at temperature 1; logits [B, S, V]."""
    s = F.log_softmax(student_logits.float(), dim=-1).flatten(0, 1)
    t = F.log_softmax(teacher_logits.float(), dim=-1).flatten(0, 1)
    return F.kl_div(s, t, log_target=True, reduction="batchmean")


def logit_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, kind: str = "kld") -> torch.Tensor:
    """Mean over positions of a distance between student and teacher logits [B, S, V] (temperature 1):
    ``kld`` KL(p_t || p_s), ``rkld`` KL(p_s || p_t), ``mse`` mean over the vocabulary of the squared
    logit difference, ``cosine`` 1 - cos(z_s, z_t)."""
    if kind == "kld":
        return forward_kl(student_logits, teacher_logits)
    if kind == "rkld":
        return forward_kl(teacher_logits, student_logits)
    s, t = student_logits.float().flatten(0, 1), teacher_logits.float().flatten(0, 1)
    if kind == "mse":
        return (s - t).pow(2).mean()
    if kind == "cosine":
        return (1 - F.cosine_similarity(s, t, dim=-1)).mean()
    raise ValueError(f"logit loss {kind!r} not in {LOGIT_LOSSES}")


STATE_KINDS = ("emb", "attn", "mlp", "o")


@dataclass(frozen=True)
class StateTerm:
    """One term of $L_{is}$: the student's ``kind`` state at block ``student`` against the teacher's at
    block ``teacher`` (for ``emb`` the blocks are ignored: there is one embedding output)."""

    kind: str
    teacher: int = 0
    student: int = 0

    def __post_init__(self) -> None:
        if self.kind not in STATE_KINDS:
            raise ValueError(f"state kind {self.kind!r} not in {STATE_KINDS}")

    def side(self, teacher: bool) -> tuple[str, int]:
        """The (kind, block) key of this term's state on the teacher's or the student's side."""
        return (self.kind, 0 if self.kind == "emb" else (self.teacher if teacher else self.student))

    def __str__(self) -> str:
        return "L_emb" if self.kind == "emb" else f"L_{self.kind}({self.teacher}:{self.student})"


def kept_map(layers: Sequence[int]) -> tuple[StateTerm, ...]:
    """Every student block's output against the teacher block it was kept from (``layers[k]``)."""
    return tuple(StateTerm("o", old, new) for new, old in enumerate(layers))


def _module(model: torch.nn.Module, kind: str, block: int) -> torch.nn.Module:
    if kind == "emb":
        return model.model.embed_tokens
    layer = model.model.layers[block]
    return {"attn": layer.self_attn, "mlp": layer.mlp, "o": layer}[kind]


def _with_states(model: torch.nn.Module, ids: torch.Tensor, keys: set[tuple[str, int]]
                 ) -> tuple[torch.Tensor, dict[tuple[str, int], torch.Tensor]]:
    """Logits [B, S, V] and the states named by ``keys`` ((kind, block) -> [B, S, D]), taken by forward
    hooks on the modules that produce them (attention returns a tuple whose first item is the state)."""
    states: dict[tuple[str, int], torch.Tensor] = {}

    def keep(key: tuple[str, int]) -> Callable:
        return lambda m, a, out: states.__setitem__(key, out[0] if isinstance(out, tuple) else out)

    handles = [_module(model, *key).register_forward_hook(keep(key)) for key in keys]
    try:
        logits = model(input_ids=ids, use_cache=False).logits
    finally:
        for handle in handles:
            handle.remove()
    return logits, states


def intermediate_loss(student: dict[tuple[str, int], torch.Tensor], teacher: dict[tuple[str, int], torch.Tensor],
                      terms: Sequence[StateTerm], channels: torch.Tensor) -> torch.Tensor:
    """Mean over ``terms`` of the relative squared error of the student's state to the teacher's kept
    channels ``channels`` [D']."""
    out = []
    for term in terms:
        target = teacher[term.side(True)]
        target = target.index_select(-1, channels.to(target.device))
        out.append((student[term.side(False)] - target).pow(2).sum() / target.pow(2).sum().clamp_min(1e-12))
    return torch.stack(out).mean()


def learning_rate(step: int, steps: int, lr: float) -> float:
    """Linear warm-up over the first 10% of steps, then cosine decay to 10% of ``lr``."""
    warm = max(1, steps // 10)
    if step < warm:
        return lr * (step + 1) / warm
    progress = (step - warm) / max(1, steps - warm)
    return lr * (0.1 + 0.45 * (1 + math.cos(math.pi * progress)))


def recover(student: torch.nn.Module, ids: torch.Tensor, *, method: str, steps: int, batch_size: int, lr: float,
            gen: torch.Generator, teacher: torch.nn.Module | None = None, alpha: float | None = 0.0,
            layers: Sequence[int] | None = None, channels: torch.Tensor | None = None,
            states: Sequence[StateTerm] = (), on_tokens: OnTokens = None,
            teacher_logits: Callable[[torch.Tensor], torch.Tensor] | None = None,
            loss: str = "kld", clm: float = 0.0) -> TrainingRun:
    """Train ``student`` in place on windows ``ids`` [N, S] for ``steps`` steps of ``batch_size`` windows.

    ``method="kd"`` needs the ``teacher``; with an intermediate-state loss (``alpha`` > 0, or ``None``
    for the per-step loss ratio) also the kept residual ``channels`` and the terms ``states`` (default:
    :func:`kept_map` of the kept ``layers``). ``teacher_logits``, if given, replaces the teacher's logits
    by a function of them (used to feed a deliberately broken teacher). ``loss`` picks the logit loss of
    :data:`LOGIT_LOSSES`, ``clm`` the weight of the student's own next-token loss added to it.
    """
    if method not in METHODS:
        raise ValueError(f"method {method!r} not in {METHODS}")
    if method == "kd" and teacher is None:
        raise ValueError("distillation needs a teacher")
    if loss not in LOGIT_LOSSES:
        raise ValueError(f"logit loss {loss!r} not in {LOGIT_LOSSES}")
    terms = tuple(states) or (kept_map(layers) if layers is not None else ())
    with_states = method == "kd" and (alpha is None or alpha > 0)
    if with_states and (not terms or channels is None):
        raise ValueError("the intermediate-state loss needs the kept channels and its terms (or the kept layers)")
    student_keys = {term.side(False) for term in terms} if with_states else set()
    teacher_keys = {term.side(True) for term in terms} if with_states else set()
    device = next(student.parameters()).device
    optimiser = torch.optim.AdamW(student.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.0)
    order: list[int] = []
    run = TrainingRun(method, steps, 0, 0.0)
    student.train()
    start = time.perf_counter()
    for step in range(steps):
        if len(order) < batch_size:
            order += torch.randperm(ids.shape[0], generator=gen, device=gen.device).tolist()
        batch, order = ids[order[:batch_size]].to(device), order[batch_size:]
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(step, steps, lr)
        if method == "ce":
            logits, _ = _with_states(student, batch, set())
            objective = next_token_nll(logits, batch) / batch[:, 1:].numel()
        else:
            with torch.no_grad():
                t_logits, t_states = _with_states(teacher, batch, teacher_keys)
                if teacher_logits is not None:
                    t_logits = teacher_logits(t_logits)
            logits, s_states = _with_states(student, batch, student_keys)
            objective = logit_loss(logits, t_logits, loss)
            if with_states:
                l_is = intermediate_loss(s_states, t_states, terms, channels)
                weight = float(objective.detach() / l_is.detach().clamp_min(1e-12)) if alpha is None else alpha
                run.alphas.append(weight)
                objective = objective + weight * l_is
            if clm > 0:
                objective = objective + clm * next_token_nll(logits, batch) / batch[:, 1:].numel()
        optimiser.zero_grad(set_to_none=True)
        objective.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        optimiser.step()
        run.losses.append(float(objective.detach()))
        run.tokens += batch.numel()
        if on_tokens:
            on_tokens(batch.numel())
    run.seconds = time.perf_counter() - start
    student.eval()
    return run
