"""Search spaces filtered by a target's operator set: removed choices are named, the rest never falls back."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from edgenas.arch import Arch, Decision
from edgenas.errors import UnsupportedOpError
from edgenas.export.audit import audit_layers
from edgenas.hardware import load_target
from edgenas.ir import Layer, Op
from edgenas.opset import layer_requirements, network_requirements
from edgenas.spaces import DecisionSpace, KwsSpace, OpFilteredSpace, filter_by_ops
from edgenas.strategies import STRATEGIES

ACTIVATIONS = ("relu", "relu6", "hard_swish", "swish")
CELLS = ("conv", "gru", "se")


class CellSpace(DecisionSpace):
    """A test-only space whose choices need operators some targets lack.

    ``act`` picks the activation of both convs (swish = sigmoid x mul in TFLite), ``cell`` a conv,
    a GRU (an IR op name later spaces may emit) or a conv followed by squeeze-and-excitation
    (pooling, FC, sigmoid gate, mul); ``pool`` picks the head. ``tail`` is inactive unless
    ``depth`` is 2, so normalisation matters too.
    """

    name = "cell"

    def decisions(self) -> Sequence[Decision]:
        return [
            Decision("act", ACTIVATIONS),
            Decision("cell", CELLS),
            Decision("width", (8, 16, 32)),
            Decision("depth", (1, 2)),
            Decision("tail", ("conv", "gru")),
        ]

    def normalise(self, genes: tuple[int, ...]) -> tuple[int, ...]:
        return genes if genes[3] == 1 else (*genes[:4], 0)

    def layers(self, arch: Arch) -> list[Layer]:
        act, cell, width, depth, tail = self.values(arch).values()
        c = int(width)  # type: ignore[call-overload]
        out = [Layer(Op.CONV2D, (16, 16, 1), (16, 16, c), (3, 3), (1, 1), activation=str(act))]
        for kind in [cell, tail][: int(depth)]:  # type: ignore[call-overload]
            if kind == "gru":
                out.append(Layer("gru", (16, 16, c), (16, 16, c)))  # type: ignore[arg-type]
            else:
                out.append(Layer(Op.CONV2D, (16, 16, c), (16, 16, c), (1, 1), (1, 1), activation=str(act)))
            if kind == "se":
                out.append(Layer("se", (16, 16, c), (16, 16, c)))  # type: ignore[arg-type]
        out += [Layer(Op.GLOBAL_AVGPOOL, (16, 16, c), (c,)), Layer(Op.FC, (c,), (4,))]
        return out

    def build(self, arch: Arch):  # pragma: no cover - never trained
        raise NotImplementedError

    def describe(self, arch: Arch) -> str:
        return " ".join(f"{k}={v}" for k, v in self.values(arch).items())


def test_ir_requirements_map_to_canonical_ops() -> None:
    assert layer_requirements(Layer(Op.CONV1D, (49, 10), (49, 16), (3,), (1,), activation="relu")) == ("conv2d", "relu")
    assert layer_requirements(Layer(Op.DWCONV2D, (4, 4, 8), (4, 4, 8), (3, 3), (1, 1), groups=8)) == ("depthwise_conv2d",)
    assert layer_requirements(Layer(Op.GLOBAL_AVGPOOL, (4, 4, 8), (8,))) == ("avg_pool2d",)
    assert layer_requirements(Layer(Op.FC, (8,), (4,), dtype="float32")) == ("fully_connected[float32]",)
    assert layer_requirements(Layer(Op.CONV2D, (4, 4, 1), (4, 4, 8), (3, 3), (1, 1), activation="swish")) == (
        "conv2d",
        "logistic",
        "mul",
    )


def test_unsupported_choices_are_removed_with_a_message() -> None:
    space, messages = filter_by_ops(CellSpace(), load_target("npu-int8").native_ops, "npu-int8")
    assert isinstance(space, OpFilteredSpace)
    text = "\n".join(messages)
    assert "npu-int8 has no gru kernel: removed choice cell='gru'" in text
    assert "npu-int8 has no gru kernel: removed choice tail='gru'" in text
    assert "removed choice act='hard_swish'" in text and "removed choice act='swish'" in text
    assert "removed choice cell='se'" in text and "logistic, mul" in text
    assert len(messages) == 5  # relu, relu6, conv, widths and depths stay
    assert space.name == "cell" and len(space.decisions()) == 5  # same genes: trials and checkpoints stay valid


def test_the_filtered_space_never_proposes_a_fallback() -> None:
    target = load_target("npu-int8")
    space, _ = filter_by_ops(CellSpace(), target.native_ops, target.name)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(300):
        arch = space.sample(rng)
        child = space.mutate(arch, rng)
        for a in (arch, child):
            assert audit_layers(space.layers(a), target).all_native, space.describe(a)
            seen.add(space.describe(a).split(" cell=")[0])
    assert seen == {"act=relu", "act=relu6"}  # both remaining activations are reached
    # A strategy that picks indices itself (Optuna, RL) has removed choices projected away.
    projected = space.arch([3, 1, 0, 1, 1])  # swish, gru, depth 2 with a gru tail
    assert space.values(projected) == {"act": "relu", "cell": "conv", "width": 8, "depth": 2, "tail": "conv"}


@pytest.mark.parametrize("strategy", ["random", "evolution", "local", "rl", "tpe"])
def test_every_strategy_asks_only_native_networks(strategy: str) -> None:
    target = load_target("npu-int8")
    space, _ = filter_by_ops(CellSpace(), target.native_ops, target.name)
    asked = STRATEGIES.create(strategy, space=space, seed=0)
    from edgenas.trial import Metrics, Trial, TrialState

    for number in range(12):
        arch = asked.ask()
        assert not audit_layers(space.layers(arch), target).fallback, (strategy, space.describe(arch))
        trial = Trial(number=number, arch=arch, state=TrialState.COMPLETE, metrics=Metrics(accuracy=len(set(arch.genes)) / 5))
        asked.tell(trial)


def test_cortex_m_lacks_gru_but_runs_the_mbconv_element_ops() -> None:
    # TFLite Micro runs LOGISTIC and HARD_SWISH with int8 reference kernels and MUL with CMSIS-NN,
    # so swish, hard-swish and squeeze-and-excitation stay; it has no GRU kernel.
    _, messages = filter_by_ops(CellSpace(), load_target("cortex-m7").native_ops, "cortex-m7")
    removed = {m.split("removed choice ")[1] for m in messages}
    assert removed == {"cell='gru'", "tail='gru'"}


def test_nothing_remaining_is_a_clear_error() -> None:
    native = load_target("npu-int8").native_ops - {"relu", "relu6"}
    with pytest.raises(UnsupportedOpError, match="every choice of 'act'.*nothing remains"):
        filter_by_ops(CellSpace(), native, "tiny-npu")
    with pytest.raises(UnsupportedOpError, match="every network of space 'cell' needs avg_pool2d"):
        filter_by_ops(CellSpace(), native - {"avg_pool2d"} | {"relu", "relu6"}, "tiny-npu")


@pytest.mark.parametrize("target", ["cortex-m7", "cortex-m4", "npu-int8"])
def test_every_kws_choice_is_native_on_the_builtin_targets(target: str) -> None:
    t = load_target(target)
    space, messages = filter_by_ops(KwsSpace(), t.native_ops, t.name)
    assert messages == () and isinstance(space, KwsSpace)  # nothing removed: the search space is unchanged
    rng = np.random.default_rng(1)
    for _ in range(200):
        assert audit_layers(space.layers(space.sample(rng)), t).all_native


def test_float_layers_fall_back_on_int8_targets() -> None:
    target = load_target("npu-int8")
    layers = [Layer(Op.FC, (8,), (4,), dtype="float32")]
    result = audit_layers(layers, target)
    assert not result.all_native and result.fallback[0].requirement == "fully_connected[float32]"
    assert "fully_connected" in network_requirements([Layer(Op.FC, (8,), (4,))])
