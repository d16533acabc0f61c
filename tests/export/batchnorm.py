"""Batch-norm statistics as training leaves them, for export tests of untrained networks.

An untrained network's activations all collapse to the smallest quantisation scale, which hides
what the converter does with scales of their own (a QUANTIZE it inserts, say); random running
statistics and biases spread them as a trained network's are.
"""

from __future__ import annotations

import torch


def randomise_batchnorm(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """``model`` with seeded random running statistics and biases in every batch norm (in place)."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(n, generator=generator) * 0.1)
    return model
