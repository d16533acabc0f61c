"""``--device``: auto is the CPU on a machine without a GPU; a device that is not there is one clear
error; training on ``auto`` here gives what training on ``cpu`` gives, to the bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgenas.devices import check_device_name, resolve_device
from edgenas.errors import InvalidInputError
from edgenas.evaluators.train import TrainEvaluator
from edgenas.spaces import KwsSpace
from edgenas.tasks import Split, TaskData


def test_names_are_checked_without_torch_work() -> None:
    for name in ("auto", "cpu", "cuda", "cuda:1", "mps"):
        check_device_name(name)
    with pytest.raises(InvalidInputError, match="--device must be one of auto, cpu, cuda, mps or cuda:N"):
        check_device_name("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_without_a_gpu_auto_is_the_cpu_and_cuda_is_refused() -> None:
    assert resolve_device("auto").type in ("cpu", "mps")
    with pytest.raises(InvalidInputError, match="--device cuda: no CUDA device here"):
        resolve_device("cuda")


def test_a_gpu_that_is_there_is_used_and_one_that_is_not_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("auto") == torch.device("cuda") and resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(InvalidInputError, match="--device cuda:1: this machine has 1 CUDA device"):
        resolve_device("cuda:1")


def _data() -> TaskData:
    rng = np.random.default_rng(0)

    def split(n: int) -> Split:
        return Split(rng.normal(size=(n, 49, 10)).astype(np.float32), rng.integers(0, 3, size=n).astype(np.int64))

    stats = np.zeros(10, np.float32), np.ones(10, np.float32)
    return TaskData("tiny", ("a", "b", "c"), split(48), split(24), split(24), (49, 10), *stats, source="random")


@pytest.mark.skipif(torch.cuda.is_available(), reason="auto would train on the GPU")
def test_auto_trains_what_cpu_trains_here() -> None:
    space, data = KwsSpace(num_classes=3, max_depth=2), _data()
    arch = space.sample(np.random.default_rng(1))
    on_cpu = TrainEvaluator(space, data, epochs=1, batch_size=16, device="cpu").train(arch)
    on_auto = TrainEvaluator(space, data, epochs=1, batch_size=16, device="auto").train(arch)
    assert on_cpu.metrics.accuracy == on_auto.metrics.accuracy
    for a, b in zip(on_cpu.module.state_dict().values(), on_auto.module.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_splits_move_to_the_device_once_and_stay_in_their_process() -> None:
    import pickle

    from edgenas.devices import SplitTensors

    tensors = SplitTensors(_data(), "cpu")
    x, y = tensors("train")
    assert tensors("train")[0] is x and x.shape == (48, 49, 10) and y.dtype == torch.int64
    copy = pickle.loads(pickle.dumps(tensors))
    assert copy._tensors == {} and copy._device is None  # a worker moves the splits to its own device
    assert torch.equal(copy("train")[0], x)
    with pytest.raises(InvalidInputError, match="--device must be one of"):
        SplitTensors(_data(), "gpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="auto would train on the GPU")
def test_supernets_train_and_score_on_the_device_asked_for(tmp_path) -> None:
    from edgenas.evaluators import EVALUATORS, EvaluatorContext
    from edgenas.store import RunFolder

    space, data = KwsSpace(num_classes=3, max_depth=2), _data()
    arch = space.sample(np.random.default_rng(2))
    scores = []
    for device in ("cpu", "auto"):
        run = RunFolder(tmp_path / device)
        context = EvaluatorContext(space, data, seed=1, run=run, device=device)
        evaluator = EVALUATORS.get("supernet")(context, None)
        assert evaluator.device == device and evaluator.torch_device().type == "cpu"
        evaluator.finetune_steps = 2
        scores.append(evaluator.evaluate(arch).accuracy)
        cached = torch.load(run.supernet_weights, weights_only=True)
        assert all(t.device.type == "cpu" for w in cached["weights"].values() for t in w.values())
    assert scores[0] == scores[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="auto would train on the GPU")
def test_the_differentiable_search_trains_on_the_device_asked_for() -> None:
    from edgenas.hardware import load_target
    from edgenas.objectives import Limits
    from edgenas.supernets.differentiable.losses import ArchLoss
    from edgenas.supernets.differentiable.search import DifferentiableSearch

    space, data, target = KwsSpace(num_classes=3, max_depth=2), _data(), load_target("cortex-m7")
    derived = []
    for device in ("cpu", "auto"):
        search = DifferentiableSearch(space, data, target, epochs=2, batch_size=16, seed=3, device=device)
        limits = Limits(latency_ms=20.0)
        derived.append(search.search(limits, ArchLoss("lagrangian", latency_ms=20.0)))
    assert derived[0].arch == derived[1].arch and derived[0].probabilities == derived[1].probabilities
