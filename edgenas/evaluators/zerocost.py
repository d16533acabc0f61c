"""Zero-cost proxies: score an untrained network in a second instead of training it for minutes.

Each proxy looks at the network *at initialisation* (the very weights :class:`TrainEvaluator`
would start training from) on one fixed minibatch of the task's training split, and returns a
number meant to rank architectures like their trained accuracy does. Whether it does is a
measured question: ``benchmarks/evaluators.py`` answers it (``benchmarks/results/evaluators.md``);
a proxy score is never an accuracy, so its :class:`Metrics` carry ``signal="zerocost:<name>"``.

The proxies (all "higher is better"):

* ``synflow`` (Tanaka et al. 2020; as a NAS proxy, Abdelfattah et al. 2021): absolute weights,
  an all-ones input, ``R = sum(output)``; the score is ``log(sum |theta * dR/dtheta|)`` over
  weight tensors, in float64. Batch norm uses its initial running statistics (eval mode), so
  it is (almost) the identity, as the original removes it. Data-independent.
* ``naswot`` (Mellor et al. 2021, "Neural Architecture Search without Training"): the binary
  code of every activation unit (pre-activation > 0) for each input of the minibatch; the
  kernel ``K[i, j]`` counts the units on which inputs ``i`` and ``j`` agree; the score is
  ``log |det K|``. Networks that keep inputs apart score higher.
* ``grad-norm``: sum over weight tensors of the L2 norm of the gradient of the cross-entropy loss.
* ``snip`` (Lee et al. 2019): ``sum |theta * dL/dtheta|`` over weight tensors.
* ``params``: number of parameters of the built module (a baseline every proxy must beat).
* ``macs``: multiply-accumulates of one inference of the convolution and linear layers (a baseline).

"Weight tensors" are the parameters with two or more dimensions (convolution and linear
weights, whatever the space calls its modules), so the proxies work on any space's ``build()``.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from edgenas._rng import rng_for, seed_for
from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.evaluators.base import TrialFailed
from edgenas.registry import Registry
from edgenas.spaces.base import SearchSpace
from edgenas.tasks.base import TaskData
from edgenas.trial import Metrics

#: A proxy: (fresh module at initialisation, minibatch inputs, labels) -> score, higher is better.
Proxy = Callable[[nn.Module, torch.Tensor, torch.Tensor], float]

#: Activation modules whose input signs make NASWOT's binary codes.
ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Hardswish, nn.Mish,
)  # fmt: skip


def _weights(model: nn.Module) -> list[torch.Tensor]:
    """Convolution and linear weights: the parameters with two or more dimensions."""
    return [p for p in model.parameters() if p.dim() >= 2]


def _loss_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight, d cross-entropy / d weight) for every weight tensor, one minibatch, train mode."""
    model.train()
    model.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(model(x), y)
    if not torch.isfinite(loss):
        raise TrialFailed(f"the loss at initialisation is {loss.item()}")
    loss.backward()
    return [(p, p.grad) for p in _weights(model) if p.grad is not None]


def grad_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Sum over weight tensors of ``||dL/dtheta||_2``."""
    return float(sum(g.norm().item() for _, g in _loss_gradients(model, x, y)))


def snip(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """SNIP saliency summed over weights: ``sum |theta * dL/dtheta|``."""
    return float(sum((p.detach() * g).abs().sum().item() for p, g in _loss_gradients(model, x, y)))


def synflow(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """``log`` of the synaptic-flow score (data-independent: only ``x``'s shape is used)."""
    net = copy.deepcopy(model).double().eval()  # a copy: the weights are made absolute below
    with torch.no_grad():
        for tensor in net.state_dict().values():
            if tensor.is_floating_point():
                tensor.abs_()
    net.zero_grad(set_to_none=True)
    net(torch.ones((1, *x.shape[1:]), dtype=torch.float64)).sum().backward()
    total = sum((p.detach() * p.grad).abs().sum().item() for p in _weights(net) if p.grad is not None)
    if not total > 0 or not math.isfinite(total):
        raise TrialFailed(f"synflow is {total} (no signal flows through the network, or it overflows)")
    return math.log(total)


@torch.no_grad()
def naswot(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """``log |det K|`` of the kernel of binary activation codes (Mellor et al. 2021)."""
    kernel = torch.zeros((len(x), len(x)), dtype=torch.float64)

    def count(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        codes = (inputs[0].reshape(len(x), -1) > 0).double()
        kernel.add_(codes @ codes.T + (1 - codes) @ (1 - codes).T)

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, ACTIVATIONS)]
    if not hooks:
        raise TrialFailed("naswot needs activation modules (nn.ReLU and kin); the network has none")
    try:
        model.train()
        model(x)
    finally:
        for hook in hooks:
            hook.remove()
    sign, logdet = np.linalg.slogdet(kernel.numpy())
    if sign == 0 or not math.isfinite(logdet):
        raise TrialFailed("naswot: two inputs share every activation code (the kernel is singular)")
    return float(logdet)


def params(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Number of parameters (baseline)."""
    return float(sum(p.numel() for p in model.parameters()))


def macs(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Multiply-accumulates of one inference (baseline), counted on every convolution and linear layer.

    Forward hooks rather than ``torch.utils.flop_counter``: the same count for these layers,
    without importing torch's compiler stack (seconds) into a search.
    """
    total = 0

    def count(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Linear):
            per_output = module.in_features
        else:
            assert isinstance(module, nn.Conv1d | nn.Conv2d | nn.Conv3d)  # the kinds hooked below
            per_output = module.weight[0].numel()
        total += output[:1].numel() * int(per_output)

    kinds = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, kinds)]
    try:
        model.eval()
        with torch.no_grad():
            model(x[:1])
    finally:
        for hook in hooks:
            hook.remove()
    return float(total)


PROXIES: Registry[Proxy] = Registry("zero-cost proxy")
PROXIES.add("synflow", lambda: synflow)
PROXIES.add("naswot", lambda: naswot)
PROXIES.add("grad-norm", lambda: grad_norm)
PROXIES.add("snip", lambda: snip)
PROXIES.add("params", lambda: params)
PROXIES.add("macs", lambda: macs)


def get_proxy(name: str) -> Proxy:
    """The proxy function called ``name``; an unknown name lists the available ones."""
    return PROXIES.create(name)


class ZeroCostEvaluator:
    """Score each candidate by a zero-cost proxy at initialisation (no training).

    Args:
        space: Builds the network of an ``Arch`` (any space).
        data: The task; the minibatch is drawn from its training split.
        proxy: ``synflow``, ``naswot``, ``grad-norm``, ``snip``, ``params`` or ``macs``.
        batch_size: Minibatch size (NASWOT's kernel is ``batch_size x batch_size``).
        seed: Seed of the minibatch and of the initial weights (the same as ``TrainEvaluator``'s,
            so the proxy sees the network that training would start from).

    Example::

        >>> evaluator = ZeroCostEvaluator(space, data, proxy="naswot")
        >>> evaluator.evaluate(space.named("ds-cnn-s")).signal
        'zerocost:naswot'
    """

    name = "zerocost"

    def __init__(self, space: SearchSpace, data: TaskData, proxy: str = "naswot", batch_size: int = 64, seed: int = 0) -> None:
        self.space = space
        self.data = data
        self.proxy = proxy
        self.batch_size = batch_size
        self.seed = seed
        self._batch: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def signal(self) -> str:
        return f"zerocost:{self.proxy}"

    def minibatch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The fixed minibatch every candidate is scored on (drawn once from the training split)."""
        if self._batch is None:
            if self.batch_size < 2:
                raise InvalidInputError(f"the zero-cost minibatch needs at least 2 examples, got {self.batch_size}")
            train = self.data.train
            if len(train) == 0:
                raise InvalidInputError("the training split is empty: no minibatch for the zero-cost proxy")
            rng = rng_for(self.seed, "zerocost", "minibatch")
            idx = np.sort(rng.choice(len(train), size=min(self.batch_size, len(train)), replace=False))
            self._batch = (torch.from_numpy(np.ascontiguousarray(train.x[idx])), torch.from_numpy(train.y[idx]))
        return self._batch

    def initial_module(self, arch: Arch) -> nn.Module:
        """``arch`` built with the initial weights ``TrainEvaluator`` would train from."""
        generator = torch.Generator().manual_seed(seed_for(self.seed, "train", arch.key()))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
            return self.space.build(arch)

    def score(self, module: nn.Module) -> float:
        """The proxy's score of a freshly built module (it may be modified: pass a fresh one)."""
        proxy = get_proxy(self.proxy)
        x, y = self.minibatch()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed_for(self.seed, "zerocost", self.proxy))  # dropout, if any
            value = proxy(module, x, y)
        if not math.isfinite(value):
            raise TrialFailed(f"{self.proxy} score is not finite: {value}")
        return value

    def evaluate(self, arch: Arch, *, budget: float = 1.0) -> Metrics:
        """The proxy score as the search signal (``budget`` is ignored: there is no training)."""
        start = time.process_time()
        value = self.score(self.initial_module(arch))
        return Metrics(value, extra={"proxy_score": value, "proxy_cpu_s": time.process_time() - start}, signal=self.signal)
