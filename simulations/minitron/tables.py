r"""The talk's distillation tables, as exploratory measurements (no verdict).

**Logit losses** (:func:`logit_loss_table`).
One pruned student, recovered once per row and seed with the same token budget: the logit losses of
Muralidharan et al. 2024 (Table 15: forward KLD, reverse KLD, MSE, cosine), each without and with the
student's own next-token loss $L_{CLM}$ added (weight 1), and plain fine-tuning (CE) as the
teacher-free reference. Seed $k$ draws its own training windows and held-out windows; every row of
seed $k$ trains on the same windows in the same order. Per row: mean held-out NLL with a Student-t
interval over seeds, and the paired difference to forward KLD without $L_{CLM}$ (the paper's best).

Cost: ``rows x seeds`` runs of ``steps x batch x length`` training tokens, each a teacher forward plus
a student forward and backward (fine-tuning: no teacher); :func:`cost` states it before any work.

**Iterative schedule** (:func:`schedule_table`): reach the same target in T ∈ {1, 2, 4} re-scored
pruning steps (:func:`~lth.simulations.minitron.pruning.prune_iteratively`; the paper found no gain over
one-shot), then distil with the same budget; seed k draws its own calibration, training and held-out
windows. Per T: held-out NLL zero-shot and after distillation, Student-t intervals over seeds, and
paired differences to T = 1.

**Intermediate states** (:func:`intermediate_table`): the talk's table of $L_{logits} + \alpha L_{is}$ for a
depth-pruned student: logits alone; plus one block-output pair $L_o(t{:}s)$ (the teacher's and the
student's third-from-last blocks, the position of the talk's $L_o(29{:}13)$); plus the embedding
$L_{emb}$; plus that pair's attention and MLP outputs; and every block paired with the teacher block it
was kept from, plus $L_{emb}$. $\alpha = L_{logits}/L_{is}$ at every step (the loss ratio), no CLM term
(the talk's best practice: distillation loss only); same windows, order and budget for every row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from lth.simulations.minitron.distillation import LOGIT_LOSSES, StateTerm, kept_map, recover
from lth.simulations.minitron.importance import DepthScores, WidthScores, perplexity
from lth.simulations.minitron.llama import Architecture
from lth.simulations.minitron.pruning import prune_iteratively
from lth.simulations.statistics import t_interval

ROWS: tuple[tuple[str, str, float], ...] = (("ce", "kld", 0.0),) + tuple(
    ("kd", loss, clm) for loss in LOGIT_LOSSES for clm in (0.0, 1.0))


def row_name(method: str, loss: str, clm: float) -> str:
    return "fine-tuning (CE)" if method == "ce" else f"{loss}{' + CLM' if clm else ''}"


@dataclass(frozen=True)
class Budget:
    """The same for every row: ``steps`` AdamW steps of ``batch`` windows of ``length`` tokens."""

    steps: int
    batch: int
    length: int
    lr: float
    seeds: int

    @property
    def tokens_per_run(self) -> int:
        return self.steps * self.batch * self.length


def cost(budget: Budget, forward_tokens_per_s: float, rows: int = len(ROWS), with_reference: bool = True) -> str:
    """The training tokens of a table of ``rows`` rows and the time they take at a forward rate
    (tokens/s): a distillation token costs ≈ 3.3 forward tokens (teacher forward, student forward +
    backward at three quarters of the teacher's width), a fine-tuning token ≈ 2.3; ``with_reference``:
    one of the rows is fine-tuning (the logit-loss table's)."""
    runs = rows * budget.seeds
    tokens = runs * budget.tokens_per_run
    per_seed = (rows - 1) * 3.3 + 2.3 if with_reference else rows * 3.3
    seconds = budget.seeds * budget.tokens_per_run * per_seed / forward_tokens_per_s
    return (f"{rows} rows x {budget.seeds} seeds = {runs} runs of {budget.tokens_per_run:,} training tokens "
            f"({tokens:,} in all): ≈ {seconds / 60:.0f} min at {forward_tokens_per_s:.0f} forward tokens/s")


def logit_loss_table(teacher: torch.nn.Module, student: Callable[[], torch.nn.Module],
                     windows: Callable[[str, int, int], torch.Tensor], budget: Budget, batch_size: int = 8,
                     on_run: Callable[[str, int], None] | None = None) -> dict:
    """Held-out NLL per row and seed. ``student()`` returns a fresh pruned student; ``windows(part,
    count, seed)`` draws token windows [count, length] of ``train`` or ``heldout``."""
    nll: dict[str, list[float]] = {row_name(*row): [] for row in ROWS}
    pruned: list[float] = []
    for seed in range(budget.seeds):
        train = windows("train", budget.steps * budget.batch, 20_000 + seed)
        heldout = windows("heldout", max(budget.batch, 8), 10_000 + seed)
        pruned.append(perplexity(student(), heldout, batch_size).nll)
        for method, loss, clm in ROWS:
            model = student()
            recover(model, train, method=method, steps=budget.steps, batch_size=budget.batch, lr=budget.lr,
                    gen=torch.Generator().manual_seed(400 + seed), teacher=teacher if method == "kd" else None,
                    loss=loss, clm=clm)
            nll[row_name(method, loss, clm)].append(perplexity(model, heldout, batch_size).nll)
            if on_run:
                on_run(row_name(method, loss, clm), seed)
    return {"budget": budget.__dict__, "pruned_nll": pruned, "rows": _summaries(nll, row_name("kd", "kld", 0.0))}


def _summary(values: list[float]) -> dict:
    mean, lo, hi = t_interval(values, 0.95) if len(values) > 1 else (values[0], float("nan"), float("nan"))
    return {"mean": mean, "ci": [lo, hi], "values": list(values)}


def _summaries(nll: dict[str, list[float]], reference: str) -> list[dict]:
    """Per row: its NLL values with a t-interval and the paired difference to the ``reference`` row."""
    return [{"row": name, "nll": values, **{k: v for k, v in _summary(values).items() if k != "values"},
             "minus_reference": _summary([v - r for v, r in zip(values, nll[reference])])}
            for name, values in nll.items()]


SCHEDULES = (1, 2, 4)


def schedule_table(teacher: torch.nn.Module, target: Architecture,
                   importance: Callable[[torch.nn.Module, torch.Tensor], tuple[WidthScores, DepthScores | None]],
                   windows: Callable[[str, int, int], torch.Tensor], budget: Budget, calibration: int,
                   batch_size: int = 8, on_run: Callable[[int, int], None] | None = None) -> dict:
    """Held-out NLL zero-shot and after distillation for each T of :data:`SCHEDULES`, per seed.
    ``importance(model, calibration_ids)`` scores the current model before each pruning step."""
    zero_shot: dict[str, list[float]] = {f"T={t}": [] for t in SCHEDULES}
    distilled: dict[str, list[float]] = {f"T={t}": [] for t in SCHEDULES}
    for seed in range(budget.seeds):
        ids = windows("calibration", calibration, seed)
        train = windows("train", budget.steps * budget.batch, 20_000 + seed)
        heldout = windows("heldout", max(budget.batch, 8), 10_000 + seed)
        for steps in SCHEDULES:
            student = prune_iteratively(teacher, target, steps, lambda model: importance(model, ids)).model
            zero_shot[f"T={steps}"].append(perplexity(student, heldout, batch_size).nll)
            recover(student, train, method="kd", steps=budget.steps, batch_size=budget.batch, lr=budget.lr,
                    gen=torch.Generator().manual_seed(400 + seed), teacher=teacher)
            distilled[f"T={steps}"].append(perplexity(student, heldout, batch_size).nll)
            if on_run:
                on_run(steps, seed)
    return {"budget": budget.__dict__, "target": target.to_dict(),
            "zero_shot": _summaries(zero_shot, "T=1"), "distilled": _summaries(distilled, "T=1")}


def intermediate_rows(teacher_layers: int, layers: list[int]) -> list[tuple[str, tuple[StateTerm, ...]]]:
    """The talk's rows for a student keeping teacher blocks ``layers`` (sorted) of ``teacher_layers``:
    (name, terms of L_is); the first row has none (logits only).

    Pruning keeps a subset of the embedding's channels, so a fresh student's embedding output equals
    the teacher's kept channels: L_emb starts at 0 with a zero gradient, and with the loss-ratio α a row
    with L_emb trains exactly like the row without it until the embedding drifts."""
    s = max(0, len(layers) - 3)
    t = max(0, teacher_layers - 3)
    pair = (StateTerm("o", t, s),)
    emb = (StateTerm("emb"),)
    inner = (StateTerm("attn", t, s), StateTerm("mlp", t, s))
    rows = [(), pair, pair + emb, pair + emb + inner, kept_map(layers) + emb]
    names = ["logits", f"+ L_o({t}:{s})", f"+ L_o({t}:{s}) + L_emb", f"+ L_o({t}:{s}) + L_emb + L_attn/mlp({t}:{s})",
             "+ L_o(every kept block) + L_emb"]
    return list(zip(names, rows))


def intermediate_table(teacher: torch.nn.Module, student: Callable[[], torch.nn.Module], layers: list[int],
                       channels: torch.Tensor, windows: Callable[[str, int, int], torch.Tensor], budget: Budget,
                       batch_size: int = 8, on_run: Callable[[str, int], None] | None = None) -> dict:
    """Held-out NLL per row of :func:`intermediate_rows` and seed. ``student()`` returns a fresh pruned
    student that kept teacher blocks ``layers`` and residual channels ``channels``; ``windows`` as in
    :func:`logit_loss_table`. Each row also reports the mean α the loss ratio gave."""
    rows = intermediate_rows(len(teacher.model.layers), layers)
    nll: dict[str, list[float]] = {name: [] for name, _ in rows}
    alphas: dict[str, list[float]] = {name: [] for name, _ in rows}
    pruned: list[float] = []
    for seed in range(budget.seeds):
        train = windows("train", budget.steps * budget.batch, 20_000 + seed)
        heldout = windows("heldout", max(budget.batch, 8), 10_000 + seed)
        pruned.append(perplexity(student(), heldout, batch_size).nll)
        for name, terms in rows:
            model = student()
            run = recover(model, train, method="kd", steps=budget.steps, batch_size=budget.batch, lr=budget.lr,
                          gen=torch.Generator().manual_seed(400 + seed), teacher=teacher,
                          alpha=None if terms else 0.0, channels=channels, states=terms)
            nll[name].append(perplexity(model, heldout, batch_size).nll)
            if run.alphas:
                alphas[name].append(sum(run.alphas) / len(run.alphas))
            if on_run:
                on_run(name, seed)
    table = _summaries(nll, rows[0][0])
    for row in table:
        row["terms"] = [str(term) for term in dict(rows)[row["row"]]]
        row["mean_alpha"] = sum(alphas[row["row"]]) / len(alphas[row["row"]]) if alphas[row["row"]] else None
    return {"budget": budget.__dict__, "layers": list(layers), "pruned_nll": pruned, "rows": table}
