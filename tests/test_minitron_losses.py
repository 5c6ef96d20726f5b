"""The logit losses of Minitron's distillation table: each is a distance (zero exactly at the teacher)
and each, used alone, moves a pruned tiny student toward its teacher."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lth.simulations.minitron.distillation import LOGIT_LOSSES, forward_kl, logit_loss, recover
from lth.simulations.minitron.importance import magnitude_scores
from lth.simulations.minitron.llama import Architecture, tiny_llama
from lth.simulations.minitron.pruning import prune
from lth.theory.device import cpu_threads, generator

CPU = torch.device("cpu")


def draw(seed: int, shape=(2, 3, 11)) -> torch.Tensor:
    return 3 * torch.randn(shape, generator=generator(seed, CPU))


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(LOGIT_LOSSES), st.integers(0, 10_000))
def test_each_logit_loss_is_zero_at_the_teacher_and_positive_elsewhere(kind, seed):
    a, b = draw(seed), draw(seed + 1)
    assert float(logit_loss(a, a, kind)) == pytest.approx(0, abs=1e-5)
    assert float(logit_loss(a, b, kind)) > 1e-4


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10_000))
def test_the_losses_are_their_textbook_formulas(seed):
    s, t = draw(seed), draw(seed + 1)
    ps, pt = s.softmax(-1), t.softmax(-1)
    kl = lambda p, q: (p * (p.log() - q.log())).sum(-1).mean()  # noqa: E731 - mean over the 6 positions
    assert float(logit_loss(s, t, "kld")) == pytest.approx(float(kl(pt, ps)), rel=1e-4)
    assert float(logit_loss(s, t, "rkld")) == pytest.approx(float(kl(ps, pt)), rel=1e-4)
    assert float(logit_loss(s, t, "rkld")) == pytest.approx(float(forward_kl(t, s)), rel=1e-6)
    assert float(logit_loss(s, t, "mse")) == pytest.approx(float(((s - t) ** 2).mean()), rel=1e-5)
    cos = (s * t).sum(-1) / (s.norm(dim=-1) * t.norm(dim=-1))
    assert float(logit_loss(s, t, "cosine")) == pytest.approx(float((1 - cos).mean()), rel=1e-5)


@pytest.mark.parametrize("kind", LOGIT_LOSSES)
def test_distilling_with_each_loss_brings_the_student_toward_the_teacher(kind):
    with cpu_threads(1):
        teacher = tiny_llama(generator(0, CPU), vocab=64)
        ids = torch.randint(0, 64, (8, 12), generator=generator(11, CPU))
        student = prune(teacher, magnitude_scores(teacher), Architecture.of(teacher).replace(hidden=16)).model

        def gap() -> float:
            with torch.no_grad():
                return float(forward_kl(student(input_ids=ids).logits, teacher(input_ids=ids).logits))

        before = gap()
        recover(student, ids, method="kd", steps=20, batch_size=4, lr=3e-3, gen=generator(0, CPU), teacher=teacher,
                loss=kind)
        assert gap() < before


def test_the_losses_table_runs_every_row_on_the_same_budget(tmp_path, capsys):
    import json

    from lth.cli import main

    teacher, student = tmp_path / "teacher", tmp_path / "student"
    net = tiny_llama(generator(0, CPU))
    net.save_pretrained(teacher)
    prune(net, magnitude_scores(net), Architecture.of(net).replace(hidden=16)).model.save_pretrained(student)
    out = tmp_path / "losses.json"
    with cpu_threads(1):
        assert main(["minitron", "losses", str(student), "--teacher", str(teacher), "--steps", "2", "--train-batch",
                     "2", "--seeds", "2", "--length", "16", "--no-progress", "--text", "code", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("cost: 9 rows x 2 seeds = 18 runs of 64 training tokens")
    table = json.loads(out.read_text())
    assert [r["row"] for r in table["rows"]][:3] == ["fine-tuning (CE)", "kld", "kld + CLM"]
    assert all(len(r["nll"]) == 2 for r in table["rows"])
    assert table["rows"][1]["minus_reference"]["mean"] == 0


def test_the_schedule_table_prunes_to_the_same_target_for_every_t(tmp_path, capsys):
    import json

    from lth.cli import main

    model = tmp_path / "tiny"
    tiny_llama(generator(0, CPU)).save_pretrained(model)
    out = tmp_path / "schedule.json"
    with cpu_threads(1):
        assert main(["minitron", "schedule", str(model), "--hidden", "16", "--intermediate", "32", "--layers", "3",
                     "--steps", "2", "--seeds", "2", "--calibration", "2", "--length", "16", "--no-progress",
                     "--text", "code", "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith("cost: 3 schedules x 2 seeds")
    table = json.loads(out.read_text())
    assert table["target"]["hidden"] == 16 and table["target"]["layers"] == 3
    assert [r["row"] for r in table["distilled"]] == ["T=1", "T=2", "T=4"]
    assert all(len(r["nll"]) == 2 for stage in ("zero_shot", "distilled") for r in table[stage])
