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
