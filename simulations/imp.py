r"""Iterative magnitude pruning (IMP) with rewinding, its random controls, and ticket transfer.

The object (Frankle & Carbin 2019; Frankle et al. 2019): from initial weights $\theta_0$, train the
dense network to $\theta_T$ and keep $\theta_k$, its weights after $k$ iterations. Round $l$ prunes the
fraction $p$ of each layer's surviving weights with the smallest magnitude in the previous round's
trained ticket, giving masks $m_l \subseteq m_{l-1}$, and retrains $m_l \odot \theta_k$ ($k = 0$: the
original lottery ticket; $k > 0$: late resetting, and a $\theta_k$ ticket trains the remaining $T - k$
iterations, as in Frankle et al.). Controls at every round, with the same data order
as the ticket: the same mask from a fresh initialisation $\theta'_0$ (random re-init), and a uniformly
random mask with the same per-layer counts on $\theta_k$ (random pruning). Transfer retrains a ticket
$(m_l, \theta_k)$ found on one data set (or with one optimiser) on another one (or with another).

The protocol is defined once, in ``lth.simulations.imp_settings`` (without torch, so the command line
checks it before any work; imported here): :data:`PROTOCOLS` holds the named presets as changes to
:class:`ImpSettings`, whose defaults are Frankle & Carbin's LeNet-300-100 protocol ("paper").

Persistence is the caller's: ``run_imp`` takes an optional :class:`RunStore` (the harness gives a
run directory, ``lth.store.RunDirectory``); the state is handed to it after every level, a finished
run is loaded instead of rerun, and an interrupted run resumes from its last level. Every random
draw comes from a generator seeded by (seed, purpose, level), so a resumed run repeats the
uninterrupted one exactly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import torch
from tqdm.auto import tqdm

from lth.simulations.data import Split, Splits, load_dataset, resize
from lth.simulations.imp_settings import PROTOCOLS, ImpSettings, protocol  # noqa: F401 - the library's names
from lth.simulations.masks import full_masks, prune_masks, random_masks_like, remaining_fraction
from lth.simulations.models import Architecture, build_architecture, init_weights
from lth.simulations.training import Trained, train
from lth.theory.device import generator


class RunStore(Protocol):
    """Where a run's state goes between levels (the harness implements it with files at ``path``)."""

    path: Any

    def load_state(self, map_location: Any = None) -> dict | None: ...
    def save_state(self, state: dict) -> None: ...
    def load_finished(self, map_location: Any = None) -> tuple[dict, dict] | None: ...
    def finish(self, summary: dict, tensors: dict) -> None: ...
    def child(self, name: str) -> "RunStore": ...


def stream(seed: int, purpose: str, level: int = 0) -> int:
    """A generator seed for one (seed, purpose, level), independent of everything else in the run."""
    digest = hashlib.sha256(f"{seed}/{purpose}/{level}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def load_splits(settings: ImpSettings, device: torch.device) -> Splits:
    splits = load_dataset(settings.dataset, seed=settings.split_seed)
    if settings.max_images:
        splits = cap_images(splits, settings.max_images)
    if settings.image_size:
        splits = resize(splits, settings.image_size)
    return splits.to(device)


def cap_images(splits: Splits, total: int) -> Splits:
    """The first 70% / 10% / 20% of ``total`` images of the (already shuffled) train / val / test parts."""
    if total < 10:
        raise ValueError(f"max_images={total} leaves an empty part; use at least 10")
    sizes = (round(0.7 * total), round(0.1 * total), total - round(0.7 * total) - round(0.1 * total))
    parts = [Split(part.x[:size], part.y[:size]) for part, size in zip((splits.train, splits.val, splits.test), sizes)]
    return Splits(splits.name, *parts, splits.num_classes)


def architecture(settings: ImpSettings, splits: Splits) -> Architecture:
    return build_architecture(settings.arch, splits.image_shape, splits.num_classes, settings.width)


def layer_rates(settings: ImpSettings, arch: Architecture) -> list[float]:
    """Per-layer pruning fraction: conv layers, hidden fully connected layers, the output layer."""
    rates = [settings.prune_rate_conv if layer.kind == "conv" else settings.prune_rate for layer in arch.layers]
    rates[-1] = settings.prune_rate_output
    return rates


@dataclass
class ImpResult:
    """A finished IMP run: per-level metrics and, for transfer, the first chain's tickets.

    ``levels[l]["variants"][name]`` holds per-seed lists ``test_acc``, ``val_acc`` and ``val_loss`` (at
    the early stop), ``early_stop`` (iteration, counted from θ_0) and ``final_test_acc``; level 0 has
    only "dense".
    ``ticket_masks[l]`` are the first chain's masks per layer [S, *shape]; ``rewound`` its θ_k.
    """

    settings: ImpSettings
    levels: list[dict]
    ticket_masks: list[list[torch.Tensor]]
    rewound: list[torch.Tensor]

    def summary(self) -> dict:
        return {"settings": dataclasses.asdict(self.settings), "levels": self.levels}


def _metrics(trained: Trained, start: int, seeds: int) -> dict[str, list]:
    part = slice(start, start + seeds)
    best = trained.best.unsqueeze(1)
    return {"test_acc": trained.early_stop_test_acc()[part], "early_stop": trained.early_stop_iteration()[part],
            "val_acc": trained.val_acc.gather(1, best).squeeze(1)[part].tolist(),
            "val_loss": trained.val_loss.gather(1, best).squeeze(1)[part].tolist(),
            "final_test_acc": trained.test_acc[part, -1].tolist()}


def _cat(groups: list[list[torch.Tensor]]) -> list[torch.Tensor]:
    """Concatenate per-layer replica groups along the replica axis."""
    return [torch.cat(layer) for layer in zip(*groups)]


def _part(tensors: list[torch.Tensor], index: int, seeds: int) -> list[torch.Tensor]:
    return [t[index * seeds:(index + 1) * seeds] for t in tensors]


def _generators(seeds: list[int], purpose: str, level: int, device: torch.device) -> list[torch.Generator]:
    return [generator(stream(s, purpose, level), device) for s in seeds]


class _Run:
    """The state of one IMP run between levels (what the checkpoint holds)."""

    def __init__(self, settings: ImpSettings, device: torch.device):
        self.settings = settings
        self.device = device
        self.seeds = [settings.seed + i for i in range(settings.seeds)]
        self.splits = load_splits(settings, device)
        self.arch = architecture(settings, self.splits)
        self.rates = layer_rates(settings, self.arch)
        self.level = -1
        self.theta0: list[torch.Tensor] = []
        self.rewound: dict[int, list[torch.Tensor]] = {}
        self.masks: dict[int, list[torch.Tensor]] = {}
        self.trained: dict[int, list[torch.Tensor]] = {}
        self.levels: list[dict] = []
        self.ticket_masks: list[list[torch.Tensor]] = []

    def state(self) -> dict:
        return {"settings": dataclasses.asdict(self.settings), "level": self.level, "theta0": self.theta0,
                "rewound": self.rewound, "masks": self.masks, "trained": self.trained,
                "levels": self.levels, "ticket_masks": self.ticket_masks}

    def restore(self, state: dict) -> None:
        if state["settings"] != dataclasses.asdict(self.settings):
            raise ValueError("checkpoint belongs to different settings; remove the run directory to restart")
        for name in ("level", "theta0", "rewound", "masks", "trained", "levels", "ticket_masks"):
            setattr(self, name, state[name])

    def init(self, seeds: list[int]) -> list[torch.Tensor]:
        return init_weights(self.arch, _generators(seeds, "init", 0, self.device), self.device)

    def step(self, bar: tqdm) -> None:
        """Train the next level (dense at level 0, then one pruning round) and record its metrics."""
        s, level, n = self.settings, self.level + 1, len(self.seeds)
        opt = s.optimisation
        if level == 0:
            self.theta0 = self.init(self.seeds)
            dense = train(self.arch, self.theta0, full_masks(self.theta0), self.splits, opt,
                          _generators(self.seeds, "order", 0, self.device), tuple(s.rewind_to), bar.update)
            self.rewound = {k: dense.snapshots[k] for k in s.rewind_to}
            self.masks = {k: full_masks(self.theta0) for k in s.rewind_to}
            self.trained = {k: dense.weights for k in s.rewind_to}
            record = {"dense": _metrics(dense, 0, n)}
        else:
            for k in s.rewind_to:
                self.masks[k] = prune_masks(self.masks[k], self.trained[k], self.rates, s.criterion,
                                            _generators(self.seeds, "criterion", level, self.device))
            record = {}
            # One training call per rewind point k (its chain trains T - k iterations); the controls
            # share the first chain's rewind point and call.
            for k in s.rewind_to:
                inits, masks, names = [self.rewound[k]], [self.masks[k]], [f"ticket@{k}"]
                if s.controls and k == s.rewind_to[0]:
                    inits += [self.init([x + s.reinit_offset for x in self.seeds]), self.rewound[k]]
                    masks += [self.masks[k],
                              random_masks_like(self.masks[k], _generators(self.seeds, "random", level, self.device))]
                    names += ["reinit", "random"]
                # One generator object per replica (never shared), so every group sees the same data order.
                orders = [g for _ in inits for g in _generators(self.seeds, "order", level, self.device)]
                result = train(self.arch, _cat(inits), _cat(masks), self.splits, opt, orders, progress=bar.update,
                               start=k)
                record.update({name: _metrics(result, i * n, n) for i, name in enumerate(names)})
                self.trained[k] = _part(result.weights, 0, n)
            record = {name: record[name] for name in s.variants()}
        chain = self.masks[s.rewind_to[0]]
        self.levels.append({"level": level, "remaining": remaining_fraction(chain),
                            "remaining_per_layer": [float(m[0].float().mean()) for m in chain],
                            "variants": record})
        self.ticket_masks.append([m.clone() for m in chain])
        self.level = level

    def result(self) -> ImpResult:
        return ImpResult(self.settings, self.levels, self.ticket_masks, self.rewound[self.settings.rewind_to[0]])


_MEMO: dict[tuple, ImpResult] = {}


def forget_runs() -> None:
    """Empty this process's memory of finished runs (a Dask worker does so when a new client connects,
    so a long-lived worker never serves a new session from an old one)."""
    _MEMO.clear()


def run_imp(settings: ImpSettings, device: torch.device, *, store: RunStore | None = None, progress: bool = True,
            on_level: Callable[[int], None] | None = None) -> ImpResult:
    """Run (or load, or resume) the IMP experiment ``settings`` on ``device``.

    With ``store`` the state is saved after every level and a finished run is loaded from it;
    without it, results are kept in memory for this process so that several claims can share one
    run. ``on_level(level)`` is called after each level's state is saved.
    """
    key = (settings, str(device), None if store is None else str(store.path))
    if key in _MEMO:
        return _MEMO[key]
    run = _Run(settings, device)
    if store is not None:
        finished = _load_finished(store, settings, device)
        if finished is not None:
            _MEMO[key] = finished
            return finished
        state = store.load_state(map_location=device)
        if state is not None:
            run.restore(state)
    total = settings.iterations + settings.rounds * settings.level_work()
    done = 0 if run.level < 0 else settings.iterations + run.level * settings.level_work()
    desc = f"IMP {settings.arch}/{settings.dataset}"
    with tqdm(total=total, initial=done, desc=desc, disable=not progress, leave=False) as bar:
        while run.level < settings.rounds:
            bar.set_postfix_str(f"level {run.level + 1}/{settings.rounds}")
            run.step(bar)
            if store is not None:
                store.save_state(run.state())
            if on_level is not None:
                on_level(run.level)
    result = run.result()
    if store is not None:
        store.finish({"experiment": "imp", **result.summary()},
                     {"ticket_masks": result.ticket_masks, "rewound": result.rewound})
    _MEMO[key] = result
    return result


def _load_finished(store: RunStore, settings: ImpSettings, device: torch.device) -> ImpResult | None:
    finished = store.load_finished(map_location=device)
    if finished is None:
        return None
    stored, saved = finished
    if stored["settings"] != json.loads(json.dumps(dataclasses.asdict(settings))):
        raise ValueError(f"{store.path} holds a run with other settings; remove it to rerun")
    return ImpResult(settings, stored["levels"], saved["ticket_masks"], saved["rewound"])


def run_transfer(source: ImpSettings, target: ImpSettings, device: torch.device, *,
                 levels: tuple[int, ...] | None = None, store: RunStore | None = None,
                 progress: bool = True) -> list[dict]:
    """Retrain the source run's tickets (masks + rewound weights) on the target data set / optimiser.

    ``levels`` (default: every pruned level) are the IMP levels whose tickets are transferred; all
    of them train together as one replica batch. Returns one dict per level: ``remaining`` and
    per-seed ``test_acc`` / ``early_stop`` of the transferred tickets ("transfer") next to the target
    run's own variants at the same level. Seeds, data orders and the number of levels are shared, so
    differences are paired by seed. The source may differ from the target in data set (same input
    shape) and in optimiser; the transferred tickets train with the target's optimisation from the
    source's first rewind point k for T − k iterations.
    """
    if (source.arch, source.width, source.seeds, source.seed, source.rounds) != \
            (target.arch, target.width, target.seeds, target.seed, target.rounds):
        raise ValueError("source and target runs must share arch, width, seeds, seed and rounds")
    src = run_imp(source, device, store=None if store is None else store.child("source"), progress=progress)
    tgt = run_imp(target, device, store=None if store is None else store.child("target"), progress=progress)
    splits = load_splits(target, device)
    arch = architecture(target, splits)
    if arch != architecture(source, load_splits(source, device)):
        raise ValueError("source and target data sets give different input shapes; set image_size to match")
    seeds = [target.seed + i for i in range(target.seeds)]
    levels = tuple(range(1, target.rounds + 1)) if levels is None else levels
    if any(not 1 <= level <= target.rounds for level in levels):
        raise ValueError(f"transfer levels {levels} must lie in 1..{target.rounds}")
    inits = [src.rewound for _ in levels]
    masks = [src.ticket_masks[level] for level in levels]
    orders = [g for level in levels for g in _generators(seeds, "order", level, device)]
    start = source.rewind_to[0]
    with tqdm(total=target.iterations - start, desc=f"transfer {source.dataset}->{target.dataset}",
              disable=not progress, leave=False) as bar:
        result = train(arch, _cat(inits), _cat(masks), splits, target.optimisation, orders, progress=bar.update,
                       start=start)
    rows = []
    for i, level in enumerate(levels):
        row = dict(tgt.levels[level])
        row["variants"] = {**row["variants"], "transfer": _metrics(result, i * len(seeds), len(seeds))}
        row["source_remaining"] = src.levels[level]["remaining"]
        rows.append(row)
    return rows
