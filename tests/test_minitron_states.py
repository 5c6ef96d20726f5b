"""Intermediate-state distillation (the talk's L_is table): the states the hooks take are the model's
own (checked against transformers' hidden states), L_is is zero exactly at the teacher and positive
off it, the loss-ratio α equals L_logits / L_is, and distilling with L_is moves the student's states
toward the teacher's."""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lth.simulations.minitron.distillation import (STATE_KINDS, StateTerm, _with_states, intermediate_loss, kept_map,
                                               logit_loss, recover)
from lth.simulations.minitron.importance import magnitude_scores
from lth.simulations.minitron.llama import Architecture, tiny_llama
from lth.simulations.minitron.pruning import prune
from lth.simulations.minitron.tables import Budget, intermediate_rows, intermediate_table
from lth.theory.device import cpu_threads, generator

CPU = torch.device("cpu")


def every_term(layers: int) -> tuple[StateTerm, ...]:
    return (StateTerm("emb"),) + tuple(StateTerm(kind, k, k) for kind in ("attn", "mlp", "o") for k in range(layers))


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 12))
def test_the_hooked_states_are_the_models_own_hidden_states(seed, length):
    """emb is transformers' hidden_states[0] and block k's output its hidden_states[k + 1] (the last one
    is taken after the final norm by transformers, so it is left out)."""
    with cpu_threads(1):
        model = tiny_llama(generator(seed, CPU), vocab=64)
        ids = torch.randint(0, 64, (2, length), generator=generator(seed + 1, CPU))
        with torch.no_grad():
            logits, states = _with_states(model, ids, {term.side(False) for term in every_term(4)})
            reference = model(input_ids=ids, output_hidden_states=True, use_cache=False)
    assert torch.equal(logits, reference.logits)
    assert torch.equal(states[("emb", 0)], reference.hidden_states[0])
    for k in range(3):
        assert torch.equal(states[("o", k)], reference.hidden_states[k + 1])
    assert all(states[key].shape == (2, length, 32) for key in states)


@pytest.mark.parametrize("kind", STATE_KINDS)
def test_the_intermediate_loss_is_zero_at_the_teacher_and_positive_off_it(kind):
    with cpu_threads(1):
        teacher = tiny_llama(generator(0, CPU), vocab=64)
        other = copy.deepcopy(teacher)
        with torch.no_grad():
            for weight in other.parameters():
                weight.add_(0.01 * torch.randn(weight.shape, generator=generator(5, CPU)))
        ids = torch.randint(0, 64, (3, 10), generator=generator(2, CPU))
        terms = tuple(t for t in every_term(4) if t.kind == kind)
        keys = {t.side(False) for t in terms}
        channels = torch.arange(32)
        with torch.no_grad():
            _, t_states = _with_states(teacher, ids, keys)
            _, same = _with_states(copy.deepcopy(teacher), ids, keys)
            _, off = _with_states(other, ids, keys)
    assert float(intermediate_loss(same, t_states, terms, channels)) == 0.0
    assert float(intermediate_loss(off, t_states, terms, channels)) > 1e-6


def depth_pruned(teacher: torch.nn.Module, keep: list[int]):
    return prune(teacher, magnitude_scores(teacher), Architecture.of(teacher).replace(layers=len(keep)), keep)


def test_the_loss_ratio_alpha_is_l_logits_over_l_is_at_the_step():
    with cpu_threads(1):
        teacher = tiny_llama(generator(0, CPU), vocab=64)
        pruned = depth_pruned(teacher, [0, 1, 3])
        ids = torch.randint(0, 64, (4, 12), generator=generator(3, CPU))
        terms = kept_map(pruned.layers) + (StateTerm("emb"),)
        keys_s, keys_t = {t.side(False) for t in terms}, {t.side(True) for t in terms}
        with torch.no_grad():  # one step on all 4 windows: the losses are order-free means and sums
            t_logits, t_states = _with_states(teacher, ids, keys_t)
            s_logits, s_states = _with_states(pruned.model, ids, keys_s)
            expected = float(logit_loss(s_logits, t_logits) / intermediate_loss(s_states, t_states, terms,
                                                                               pruned.channels))
        run = recover(pruned.model, ids, method="kd", steps=1, batch_size=4, lr=1e-3, gen=generator(0, CPU),
                      teacher=teacher, alpha=None, channels=pruned.channels, states=terms)
    assert run.alphas == [pytest.approx(expected, rel=1e-5)]


def test_distilling_with_the_kept_map_brings_the_students_blocks_toward_the_teachers():
    with cpu_threads(1):
        teacher = tiny_llama(generator(0, CPU), vocab=64)
        pruned = depth_pruned(teacher, [0, 2, 3])
        ids = torch.randint(0, 64, (8, 12), generator=generator(4, CPU))
        terms = kept_map(pruned.layers)

        def gap() -> float:
            with torch.no_grad():
                _, t = _with_states(teacher, ids, {x.side(True) for x in terms})
                _, s = _with_states(pruned.model, ids, {x.side(False) for x in terms})
            return float(intermediate_loss(s, t, terms, pruned.channels))

        before = gap()
        recover(pruned.model, ids, method="kd", steps=30, batch_size=4, lr=3e-3, gen=generator(0, CPU),
                teacher=teacher, alpha=None, channels=pruned.channels, states=terms)
        assert gap() < 0.5 * before


def test_an_intermediate_loss_without_its_terms_is_refused():
    teacher = tiny_llama(generator(0, CPU), vocab=64)
    with pytest.raises(ValueError, match="intermediate-state loss needs"):
        recover(copy.deepcopy(teacher), torch.zeros(2, 4, dtype=torch.long), method="kd", steps=1, batch_size=1,
                lr=1e-3, gen=generator(0, CPU), teacher=teacher, alpha=None, channels=torch.arange(32))
    with pytest.raises(ValueError, match="state kind"):
        StateTerm("hidden", 1, 1)


def test_the_intermediate_table_runs_every_row_on_the_same_budget():
    with cpu_threads(1):
        teacher = tiny_llama(generator(0, CPU), vocab=64, layers=6)
        pruned = depth_pruned(teacher, [0, 1, 2, 5])
        gen_windows = lambda part, count, seed: torch.randint(0, 64, (count, 10), generator=generator(seed, CPU))  # noqa: E731
        table = intermediate_table(teacher, lambda: copy.deepcopy(pruned.model), pruned.layers, pruned.channels,
                                   gen_windows, Budget(steps=3, batch=2, length=10, lr=1e-3, seeds=2))
    names = [name for name, _ in intermediate_rows(6, [0, 1, 2, 5])]
    assert names[1] == "+ L_o(3:1)"  # the third-from-last blocks of teacher and student
    assert [row["row"] for row in table["rows"]] == names
    assert all(len(row["nll"]) == 2 for row in table["rows"])
    assert table["rows"][0]["mean_alpha"] is None and all(row["mean_alpha"] > 0 for row in table["rows"][1:])
    assert table["rows"][-1]["terms"] == ["L_o(0:0)", "L_o(1:1)", "L_o(2:2)", "L_o(5:3)", "L_emb"]


def test_the_intermediate_command_writes_the_table_for_a_pruned_student(tmp_path, capsys):
    import json

    from lth.cli import main
    from lth.store import write_json

    teacher_dir, student_dir = tmp_path / "teacher", tmp_path / "student"
    net = tiny_llama(generator(0, CPU), layers=5)
    net.save_pretrained(teacher_dir)
    pruned = depth_pruned(net, [0, 1, 4])
    pruned.model.save_pretrained(student_dir)
    out = tmp_path / "intermediate.json"
    args = ["minitron", "intermediate", str(student_dir), "--teacher", str(teacher_dir), "--steps", "2",
            "--train-batch", "2", "--seeds", "2", "--length", "16", "--no-progress", "--text", "code", "--out", str(out)]
    assert main(args) == 2 and "no minitron.json" in capsys.readouterr().err and not out.exists()
    write_json(student_dir / "minitron.json", {**pruned.summary(), "channels": pruned.channels.tolist(),
                                               "source_architecture": Architecture.of(net).to_dict()},
               seed=0, device="cpu")
    with cpu_threads(1):
        assert main(args) == 0
    assert capsys.readouterr().out.startswith("cost: 5 rows x 2 seeds = 10 runs of 64 training tokens")
    table = json.loads(out.read_text())
    assert [r["row"] for r in table["rows"]] == [name for name, _ in intermediate_rows(5, [0, 1, 4])]
    assert table["layers"] == [0, 1, 4] and all(len(r["nll"]) == 2 for r in table["rows"])
