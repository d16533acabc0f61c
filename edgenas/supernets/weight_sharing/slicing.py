"""What every supernet shares: batch norm over the first channels of a wider layer."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def sliced_batch_norm(x: torch.Tensor, bn: nn.modules.batchnorm._BatchNorm, out_c: int, training: bool) -> torch.Tensor:
    """Batch norm of a subnet's ``out_c`` channels with the first ``out_c`` entries of ``bn``
    (weights and running statistics), so a narrower subnet trains and reads the slices a
    stand-alone extraction copies."""
    running_mean, running_var = bn.running_mean, bn.running_var
    assert running_mean is not None and running_var is not None  # batch norms that track running statistics
    return F.batch_norm(
        x,
        running_mean[:out_c],
        running_var[:out_c],
        bn.weight[:out_c],
        bn.bias[:out_c],
        training=training,
        momentum=0.1,
        eps=bn.eps,
    )
