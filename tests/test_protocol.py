"""Preregistered protocols: digests cover the rule and the parameters, and the amendment log guards them."""

from __future__ import annotations

from dataclasses import dataclass

from lth.protocol import Protocol, digest, logged_digests, unlogged
from lth.registry import all_claims, param

RULE = Protocol(statistic="paired t", levels="last", margin="1 pp (published)", seeds="12", correction="none")


@dataclass(frozen=True)
class _Params:
    seeds: int = param(12, "seeds")


def test_the_digest_moves_with_the_rule_and_with_every_parameter():
    base = digest(RULE, _Params(), _Params())
    assert digest(RULE, _Params(), _Params()) == base
    assert digest(Protocol(**{**RULE.as_dict(), "margin": "2 pp"}), _Params(), _Params()) != base
    assert digest(RULE, _Params(seeds=11), _Params()) != base
    assert digest(RULE, _Params(), _Params(seeds=40)) != base


def test_a_claim_is_unlogged_until_its_newest_entry_names_its_current_digest():
    log = "### sim.a\n- protocol: `aaaaaaaaaaaa`\n\n### sim.b\n- protocol: `bbbbbbbbbbbb`\n"
    assert logged_digests(log) == {"sim.a": ["aaaaaaaaaaaa"], "sim.b": ["bbbbbbbbbbbb"]}
    assert unlogged({"sim.a": "aaaaaaaaaaaa", "sim.b": "bbbbbbbbbbbb"}, log) == {}
    assert unlogged({"sim.a": "cccccccccccc"}, log) == {"sim.a": "cccccccccccc"}
    assert unlogged({"sim.c": "cccccccccccc"}, log) == {"sim.c": "cccccccccccc"}
    amended = log + "\n### sim.a\n- protocol: `cccccccccccc`\n- reason: x\n"
    assert unlogged({"sim.a": "cccccccccccc"}, amended) == {}
    assert unlogged({"sim.a": "aaaaaaaaaaaa"}, amended) == {"sim.a": "aaaaaaaaaaaa"}


def test_every_registered_protocol_is_logged_in_proofs_amendments():
    current = {cid: c.protocol_digest for cid, c in all_claims().items() if c.protocol is not None}
    missing = unlogged(current)
    assert not missing, ("protocols changed or registered without an entry in proofs/amendments.md "
                         f"(claim: current digest): {missing}")


EMPIRICAL_MODULES = ("lth.claims.simulations", "lth.claims.supermask")


def test_every_claim_of_the_simulation_and_supermask_modules_registers_a_protocol():
    """Their claims are empirical (no certificate): each must be judged by a preregistered rule. (The
    basin.* and minitron.* claims register theirs in their own modules.)"""
    claims = {cid: c for cid, c in all_claims().items() if c.check.__module__ in EMPIRICAL_MODULES}
    assert {"sim.imp.tickets", "sim.imp.early_stop", "sim.imp.controls", "sim.late_resetting", "sim.transfer",
            "sim.supermask.zero_shot", "sim.supermask.learned", "sim.edge_popup.width"} <= set(claims)
    missing = sorted(cid for cid, c in claims.items() if c.protocol is None)
    assert not missing, f"empirical claims without a protocol: {missing}"
    for cid, c in claims.items():
        fields = c.protocol.as_dict()
        assert all(text.strip() for text in fields.values()), cid
        assert "Holm" in fields["correction"] or "no correction" in fields["correction"] \
            or "none needed" in fields["correction"], f"{cid}: the correction must be named"



def test_every_empirical_claim_registers_a_protocol():
    """A claim judged on sampled seeds, without a certificate (kind "empirical"), is judged by a rule
    fixed before its data: it must register one."""
    missing = sorted(cid for cid, c in all_claims().items() if c.kind == "empirical" and c.protocol is None)
    assert not missing, f"empirical claims without a protocol: {missing}"
