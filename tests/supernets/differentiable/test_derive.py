"""Budget-aware derivation: ``grow`` starts at the argmax, stays within the limits, spends the
latency budget, follows the learned distribution, and leaves an infeasible argmax to ``repair``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from edgenas.errors import InvalidInputError
from edgenas.hardware import AnalyticalCostModel, load_target
from edgenas.objectives import Limits, check
from edgenas.spaces import KwsSpace
from edgenas.supernets.differentiable.derive import grow, log_probability
from edgenas.supernets.differentiable.losses import ArchLoss
from edgenas.supernets.differentiable.search import DifferentiableSearch


@pytest.fixture(scope="module")
def space() -> KwsSpace:
    return KwsSpace(max_depth=3)


@pytest.fixture(scope="module")
def cost(space):  # type: ignore[no-untyped-def]
    model, target, cache = AnalyticalCostModel(), load_target("cortex-m7"), {}

    def estimate(arch):  # type: ignore[no-untyped-def]
        if arch not in cache:
            cache[arch] = model.estimate(space.layers(arch), target)
        return cache[arch]

    return estimate


def _probs(space: KwsSpace, favourite: list[int], sure: float = 0.6, seed: int = 0) -> dict[str, torch.Tensor]:
    """A distribution whose argmax is ``favourite``, with random preferences among the rest."""
    rng = np.random.default_rng(seed)
    out = {}
    for d, fav in zip(space.decisions(), favourite, strict=True):
        rest = rng.dirichlet(np.ones(len(d.choices))) * (1 - sure) if len(d.choices) > 1 else np.zeros(1)
        p = rest.copy()
        p[fav] += sure
        out[d.name] = torch.tensor(p / p.sum())
    return out


SMALL = [1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]  # 1d c16 k5 s2 / dw3 s2 c16: about 0.2 ms


def test_grow_spends_the_budget_and_meets_the_limits(space, cost):
    probs = _probs(space, SMALL)
    argmax = space.arch(SMALL)
    limits = Limits(latency_ms=3.0, sram_bytes=200 * 1024, flash_bytes=1024 * 1024)
    grown, steps = grow(space, probs, cost, limits)
    assert steps >= 1 and not check(cost(grown), limits)
    assert cost(grown).latency_ms > 2 * cost(argmax).latency_ms
    # maximal: no single change that raises the latency still fits
    for i, d in enumerate(space.decisions()):
        for j in range(len(d.choices)):
            cand = space.arch(grown.genes[:i] + (j,) + grown.genes[i + 1 :])
            c = cost(cand)
            assert c.latency_ms <= cost(grown).latency_ms or check(c, limits)


def test_grow_with_a_tight_limit_keeps_the_argmax(space, cost):
    probs = _probs(space, SMALL)
    argmax = space.arch(SMALL)
    limits = Limits(latency_ms=cost(argmax).latency_ms * 1.0001)
    grown, _ = grow(space, probs, cost, limits)
    assert cost(grown).latency_ms <= limits.latency_ms
    # an argmax over the limit is returned unchanged (repair's job)
    over, steps = grow(space, probs, cost, dataclasses.replace(limits, latency_ms=cost(argmax).latency_ms / 2))
    assert over == argmax and steps == 0


def test_grow_follows_the_distribution(space, cost):
    """Where two upgrades buy similar latency, the more probable one is taken first: with all the
    first layer's doubt on 96 channels, one step of growth widens the first layer to 96."""
    probs = _probs(space, SMALL, sure=0.9)
    probs["first_channels"] = torch.tensor([0.5, 0.0, 0.0, 0.0, 0.0, 0.5], dtype=torch.float64)
    limits = Limits(latency_ms=10.0)
    grown, _ = grow(space, probs, cost, limits, max_steps=1)
    assert space.values(grown)["first_channels"] == 96


def test_log_probability_ignores_blocks_past_the_depth(space):
    logp = [[0.0] * len(d.choices) for d in space.decisions()]
    names = [d.name for d in space.decisions()]
    logp[names.index("b2_channels")] = [-5.0] * 7
    genes = list(SMALL)
    assert log_probability(space, genes, logp) == 0.0
    genes[names.index("depth")] = 2
    assert log_probability(space, genes, logp) == -5.0


def test_unknown_derivation_is_refused(space):
    with pytest.raises(InvalidInputError, match="argmax, grow"):
        DifferentiableSearch(space, None, None, derivation="best")  # type: ignore[arg-type]


def test_search_derives_the_grown_argmax_by_default():
    """Same seed, same search: ``argmax`` hands back the argmax, ``grow`` (the default) the same
    argmax grown, within the limits and at least as slow."""
    from tests.supernets.differentiable.test_search import tiny_data

    space, target = KwsSpace(max_depth=2), load_target("cortex-m7")
    limits = Limits(latency_ms=3.0, sram_bytes=200 * 1024)
    loss = ArchLoss("lagrangian", latency_ms=3.0, sram_bytes=200 * 1024)
    runs = {
        d: DifferentiableSearch(space, tiny_data(), target, epochs=2, batch_size=8, seed=3, derivation=d).search(limits, loss)
        for d in ("argmax", "grow")
    }
    assert DifferentiableSearch(space, tiny_data(), target).derivation == "grow"
    assert runs["argmax"].argmax == runs["grow"].argmax
    if not runs["argmax"].repaired:
        assert runs["argmax"].arch == runs["argmax"].argmax and runs["argmax"].grow_steps == 0
        assert runs["grow"].cost.latency_ms >= runs["argmax"].cost.latency_ms and runs["grow"].feasible
    assert set(runs["grow"].probabilities) == {d.name for d in space.decisions()}


def test_grow_keeps_the_family_by_default(space, cost):
    """A family switch is the biggest latency step there is; with the other family almost as
    probable, growth would take it first unless the family is held (the default)."""
    probs = _probs(space, SMALL, sure=0.9)
    probs["family"] = torch.tensor([0.45, 0.55], dtype=torch.float64)  # SMALL is 1-D (gene 1)
    limits = Limits(latency_ms=10.0)
    held, _ = grow(space, probs, cost, limits, max_steps=1)
    free, _ = grow(space, probs, cost, limits, max_steps=1, fixed=())
    assert space.values(held)["family"] == "1d" and space.values(free)["family"] == "2d"
