"""The researcher's fixed-size RSS bound: its check, a broken instance, properties, its links."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lth.testing import assert_claims_linked, assert_verdict, rss_instances
from lth_example_bound.claims import CLAIM_ID, HI, LO, counting_samples, her_samples
from lth.theory.fixed_size_subset_sum import fixed_size_worst_case_error
from lth.theory.subset_sum import rounding_slack, sample_uniform, worst_case_error


@pytest.mark.claim("example.fixed_size_rss")  # a literal: the audit reads the source
def test_the_bound_holds_at_quick_scale(lth_device):
    assert_verdict(CLAIM_ID, "holds", device=lth_device)


@pytest.mark.claim("example.fixed_size_rss")  # a literal: the audit reads the source
def test_the_check_fails_when_the_pools_are_half_the_bound(lth_device):
    assert_verdict(CLAIM_ID, "fails", device=lth_device, faults={"constant_scale": 0.5})


@given(st.integers(1, 4), st.floats(1e-4, 0.5))
def test_her_bound_is_never_below_the_counting_bound_and_grows_as_eps_shrinks(k, eps):
    assert her_samples(k, eps) >= counting_samples(k, eps)
    assert her_samples(k, eps / 2) >= her_samples(k, eps)


@given(rss_instances(sizes=st.integers(3, 12), laws=st.just("uniform")), st.integers(1, 3))
def test_k_sums_never_approximate_better_than_all_subset_sums(instance, k):
    pool, lo, hi = instance.pool, instance.lo, instance.hi
    slack = float(rounding_slack(pool, lo, hi))
    assert float(fixed_size_worst_case_error(pool[None], k, lo, hi)[0]) >= float(worst_case_error(pool, lo, hi)) - 2 * slack


def test_every_pool_below_the_counting_bound_fails(lth_generator):
    k, eps = 2, 0.05
    pools = sample_uniform((200, counting_samples(k, eps) - 1), lth_generator)
    assert bool((fixed_size_worst_case_error(pools, k, LO, HI) > eps).all())


def test_the_claim_links_its_proof_section_and_its_tests():
    assert_claims_linked("lth-example-bound", Path(__file__).parent)
