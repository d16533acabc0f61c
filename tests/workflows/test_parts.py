"""``--evaluator`` and ``--strategy`` parsed by name against the registries."""

from __future__ import annotations

import pytest

from edgenas.errors import InvalidInputError, UnknownNameError
from edgenas.workflows.parts import EvaluatorSpec, check_strategy, evaluator_help, parse_evaluator, strategy_help, strategy_names


def test_parse_evaluator() -> None:
    assert parse_evaluator("train") == EvaluatorSpec("train")
    assert parse_evaluator("zerocost:synflow") == EvaluatorSpec("zerocost", "synflow")
    assert parse_evaluator("prefilter:naswot") == EvaluatorSpec("prefilter", "naswot")
    assert parse_evaluator("prefilter:naswot:300").pool_size(10) == 300
    assert parse_evaluator("prefilter:snip").pool_size(10) == 100
    assert parse_evaluator("prefilter:supernet:40") == EvaluatorSpec("prefilter", "supernet", 40)
    with pytest.raises(InvalidInputError, match="not a zero-cost proxy: use --evaluator supernet"):
        parse_evaluator("zerocost:supernet")
    with pytest.raises(UnknownNameError, match="synflow"):
        parse_evaluator("zerocost:nope")
    with pytest.raises(UnknownNameError, match="synflow.*also accepts supernet"):
        parse_evaluator("prefilter:supernett")
    for bad in ("supernett", "zerocost", "zerocost:snip:5", "prefilter:snip:x", "prefilter:snip:0", "train:5"):
        with pytest.raises(InvalidInputError):
            parse_evaluator(bad)


def test_strategy_names_are_the_registry_and_differentiable() -> None:
    from edgenas.strategies import STRATEGIES

    assert strategy_names() == [*STRATEGIES.names(), "differentiable"]
    with pytest.raises(UnknownNameError, match="Did you mean 'predictor'.*differentiable"):
        check_strategy("predicter")
    helps = strategy_help() + evaluator_help()
    for name in (*strategy_names(), "train", "supernet", "zerocost", "prefilter", "naswot"):
        assert name in helps


@pytest.mark.parametrize(
    ("field", "value", "flag"),
    [("sram_kb", -5.0, "--sram-kb"), ("latency_ms", float("inf"), "--latency-ms"), ("flash_kb", float("nan"), "--flash-kb"),
     ("flash_kb", 1e308, "--flash-kb")],
)  # fmt: skip
def test_limits_name_their_flag_and_must_be_positive_and_finite(field: str, value: float, flag: str) -> None:
    from edgenas.workflows.config import SearchConfig

    with pytest.raises(InvalidInputError, match=f"{flag} must be a positive, finite number"):
        SearchConfig(**{field: value}).validate()
