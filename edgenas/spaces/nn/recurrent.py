"""GRU and LSTM cells written with the only operators the int8 export quantises, unrolled over time.

Neither ``nn.GRU`` nor ``nn.LSTM`` survives the int8 route of :mod:`edgenas.export.tflite`:
litert-torch's PT2E quantizer refuses ``nn.GRU`` ("expecting GRU to have two outputs"), and
``nn.LSTM`` converts into a float graph (a 25-input CONCATENATION TFLite Micro rejects). The
quantizer annotates ``linear``, ``add``, ``mul`` and ``sigmoid``, but not ``tanh`` or ``sub``
(both stay float, bracketed by DEQUANTIZE/QUANTIZE). So the cells here use those four only:

* the GRU keeps its state as ``u = (h + 1) / 2`` in (0, 1). With ``tanh(a) = 2 sigmoid(2a) - 1``
  the standard update becomes ``u' = g + z (u - g)`` with ``g = sigmoid(a')``, and the factor 2
  and the shift are absorbed by the learned weights of every Linear that reads the state: the
  same function class as PyTorch's GRU, with sigmoids only; ``u - g`` is ``u + (-1) g``.
* the LSTM computes its two tanh as ``2 sigmoid(2x) - 1`` (MUL, LOGISTIC, MUL, ADD: its gates
  multiply the cell state, so no reparametrisation removes them).

The frames are unbound from the ``(batch, C, T)`` map (a SLICE each in the file; a transpose to
``(batch, T, C)`` first broke the converter's same-scale rule). The initial state is zero, so the
first step has no state-side products. ``docs/spaces.md`` lists what each form converts to.
"""

from __future__ import annotations

import torch
from torch import nn


def _tanh(x: torch.Tensor) -> torch.Tensor:
    """tanh(x) as 2 sigmoid(2x) - 1: operators the int8 quantizer annotates (MUL, LOGISTIC, MUL, ADD)."""
    return torch.sigmoid(x * 2.0) * 2.0 + -1.0


class _Unrolled(nn.Module):
    """Common frame handling: one step per time position, read-out of the last state or the mean."""

    def __init__(self, readout: str) -> None:
        super().__init__()
        if readout not in ("last", "mean"):
            raise ValueError(f"readout must be 'last' or 'mean', got {readout!r}")
        self.readout = readout

    def forward(self, seq: torch.Tensor) -> torch.Tensor:  # (batch, C, T) -> (batch, hidden)
        states = self.run(seq)
        if self.readout == "last":
            return states[-1]
        total = states[0]
        for state in states[1:]:
            total = total + state
        return total * (1.0 / len(states))

    @staticmethod
    def frames(seq: torch.Tensor) -> list[torch.Tensor]:
        return list(torch.unbind(seq, 2))

    def run(self, seq: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError


class UnrolledGru(_Unrolled):
    """A GRU layer (PyTorch's equations, state reparametrised; see the module docstring)."""

    def __init__(self, in_channels: int, hidden: int, readout: str = "last") -> None:
        super().__init__(readout)
        self.x_r, self.x_z, self.x_n = (nn.Linear(in_channels, hidden) for _ in range(3))
        self.h_r, self.h_z = (nn.Linear(hidden, hidden, bias=False) for _ in range(2))
        self.h_n = nn.Linear(hidden, hidden)

    def run(self, seq: torch.Tensor) -> list[torch.Tensor]:
        states: list[torch.Tensor] = []
        u: torch.Tensor | None = None
        for x in self.frames(seq):
            if u is None:  # zero state: the state-side products vanish (h_n's bias remains)
                r = torch.sigmoid(self.x_r(x))
                z = torch.sigmoid(self.x_z(x))
                g = torch.sigmoid(self.x_n(x) + r * self.h_n.bias)
                u = g + z * (g * -1.0)
            else:
                r = torch.sigmoid(self.x_r(x) + self.h_r(u))
                z = torch.sigmoid(self.x_z(x) + self.h_z(u))
                g = torch.sigmoid(self.x_n(x) + r * self.h_n(u))
                u = g + z * (u + g * -1.0)
            states.append(u)
        return states


class UnrolledLstm(_Unrolled):
    """An LSTM layer (PyTorch's equations; tanh as ``2 sigmoid(2x) - 1``)."""

    def __init__(self, in_channels: int, hidden: int, readout: str = "last") -> None:
        super().__init__(readout)
        self.x_i, self.x_f, self.x_g, self.x_o = (nn.Linear(in_channels, hidden) for _ in range(4))
        self.h_i, self.h_f, self.h_g, self.h_o = (nn.Linear(hidden, hidden, bias=False) for _ in range(4))

    def run(self, seq: torch.Tensor) -> list[torch.Tensor]:
        states: list[torch.Tensor] = []
        h: torch.Tensor | None = None
        c = torch.zeros(())
        for x in self.frames(seq):
            if h is None:  # zero state: no forget gate, no state-side products
                i = torch.sigmoid(self.x_i(x))
                c = i * _tanh(self.x_g(x))
                o = torch.sigmoid(self.x_o(x))
            else:
                i = torch.sigmoid(self.x_i(x) + self.h_i(h))
                f = torch.sigmoid(self.x_f(x) + self.h_f(h))
                g = _tanh(self.x_g(x) + self.h_g(h))
                o = torch.sigmoid(self.x_o(x) + self.h_o(h))
                c = f * c + i * g
            h = o * _tanh(c)
            states.append(h)
        return states
