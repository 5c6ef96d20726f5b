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
  $L_{is} = \frac1{|H|}\sum_{k\in H} \|h_s^k - h_t^{m(k)}[C]\|^2 / \|h_t^{m(k)}[C]\|^2$ over the student's blocks
  $k$, with $m(k)$ the teacher block it was kept from and $C$ the kept residual channels (pruning
  keeps a channel subset, so no learned projection is needed).

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

from simulations.minitron.importance import OnTokens, next_token_nll

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

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else float("nan")

    def summary(self) -> dict:
        return {"method": self.method, "steps": self.steps, "tokens": self.tokens, "seconds": self.seconds,
                "tokens_per_s": self.tokens_per_s, "losses": list(self.losses)}


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


def _with_block_outputs(model: torch.nn.Module, ids: torch.Tensor, wanted: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Logits [B, S, V] and (if ``wanted``) every block's output [L] × [B, S, D]."""
    outputs: list[torch.Tensor] = []
    handles = [layer.register_forward_hook(lambda m, a, out: outputs.append(out[0] if isinstance(out, tuple) else out))
               for layer in model.model.layers] if wanted else []
    try:
        logits = model(input_ids=ids, use_cache=False).logits
    finally:
        for handle in handles:
            handle.remove()
    return logits, outputs


def intermediate_loss(student: list[torch.Tensor], teacher: list[torch.Tensor], layers: Sequence[int],
                      channels: torch.Tensor) -> torch.Tensor:
    """Mean over student blocks of the relative squared error to the kept teacher block's kept channels."""
    terms = []
    for k, old in enumerate(layers):
        target = teacher[old].index_select(-1, channels.to(teacher[old].device))
        terms.append((student[k] - target).pow(2).sum() / target.pow(2).sum().clamp_min(1e-12))
    return torch.stack(terms).mean()


def learning_rate(step: int, steps: int, lr: float) -> float:
    """Linear warm-up over the first 10% of steps, then cosine decay to 10% of ``lr``."""
    warm = max(1, steps // 10)
    if step < warm:
        return lr * (step + 1) / warm
    progress = (step - warm) / max(1, steps - warm)
    return lr * (0.1 + 0.45 * (1 + math.cos(math.pi * progress)))


def recover(student: torch.nn.Module, ids: torch.Tensor, *, method: str, steps: int, batch_size: int, lr: float,
            gen: torch.Generator, teacher: torch.nn.Module | None = None, alpha: float = 0.0,
            layers: Sequence[int] | None = None, channels: torch.Tensor | None = None,
            on_tokens: OnTokens = None, teacher_logits: Callable[[torch.Tensor], torch.Tensor] | None = None,
            loss: str = "kld", clm: float = 0.0) -> TrainingRun:
    """Train ``student`` in place on windows ``ids`` [N, S] for ``steps`` steps of ``batch_size`` windows.

    ``method="kd"`` needs the ``teacher`` (and, for ``alpha > 0``, the kept ``layers`` and
    ``channels`` that map student blocks and channels to the teacher's); ``teacher_logits``, if given,
    replaces the teacher's logits by a function of them (used to feed a deliberately broken teacher).
    ``loss`` picks the logit loss of :data:`LOGIT_LOSSES`, ``clm`` the weight of the student's own
    next-token loss added to it.
    """
    if method not in METHODS:
        raise ValueError(f"method {method!r} not in {METHODS}")
    if method == "kd" and teacher is None:
        raise ValueError("distillation needs a teacher")
    if loss not in LOGIT_LOSSES:
        raise ValueError(f"logit loss {loss!r} not in {LOGIT_LOSSES}")
    if alpha > 0 and (layers is None or channels is None):
        raise ValueError("the intermediate-state loss needs the kept layers and channels")
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
            logits, _ = _with_block_outputs(student, batch, False)
            objective = next_token_nll(logits, batch) / batch[:, 1:].numel()
        else:
            with torch.no_grad():
                t_logits, t_states = _with_block_outputs(teacher, batch, alpha > 0)
                if teacher_logits is not None:
                    t_logits = teacher_logits(t_logits)
            logits, states = _with_block_outputs(student, batch, alpha > 0)
            objective = logit_loss(logits, t_logits, loss)
            if clm > 0:
                objective = objective + clm * next_token_nll(logits, batch) / batch[:, 1:].numel()
            if alpha > 0:
                objective = objective + alpha * intermediate_loss(states, t_states, layers, channels)
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
