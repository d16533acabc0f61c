"""The torch realisation of an ``nb201`` genotype (kept apart so ``layers()`` never imports torch).

Modules follow NAS-Bench-201's reference code (``xautodl/models/cell_operations.py``,
``cell_infers/tiny_network.py``): ReLU-conv-BN ops, a ResNet basic block for each reduction, a
final BN-ReLU before pooling. Only active edges are built (see ``nb201.active_edges``).
"""

from __future__ import annotations

import torch
from torch import nn

NUM_NODES = 4


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride, padding=(kernel - 1) // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )


class Nb201Cell(nn.Module):
    """One cell: node j = sum of op(node i) over the active edges into j; node 3 is the output."""

    def __init__(self, edges: tuple[tuple[int, int, str], ...], channels: int) -> None:
        super().__init__()
        self.edges = edges
        ops: dict[str, nn.Module] = {}
        for j, i, op in edges:
            if op == "skip_connect":
                ops[f"{j}_{i}"] = nn.Identity()
            elif op == "avg_pool_3x3":
                ops[f"{j}_{i}"] = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
            else:
                ops[f"{j}_{i}"] = ReLUConvBN(channels, channels, 1 if op == "nor_conv_1x1" else 3, 1)
        self.ops = nn.ModuleDict(ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes: dict[int, torch.Tensor] = {0: x}
        for j, i, _ in self.edges:  # sorted by target: every source is complete when read
            y = self.ops[f"{j}_{i}"](nodes[i])
            nodes[j] = nodes[j] + y if j in nodes else y
        return nodes[NUM_NODES - 1] if NUM_NODES - 1 in nodes else x * 0.0


class ResidualReduction(nn.Module):
    """NB201's ResNet basic block with stride 2: two ReLU-conv-BN and an avg-pool + 1x1 conv shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, stride=2, padding=0), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class Nb201Net(nn.Module):
    """NB201's tiny network. Input ``(batch, 3, H, W)`` images; output logits."""

    def __init__(self, edges: tuple[tuple[int, int, str], ...], channels: int, cells_per_stage: int, num_classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))
        blocks: list[nn.Module] = []
        c = channels
        for stage in range(3):
            if stage:
                blocks.append(ResidualReduction(c, 2 * c))
                c *= 2
            blocks += [Nb201Cell(edges, c) for _ in range(cells_per_stage)]
        self.cells = nn.Sequential(*blocks)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.lastact(self.cells(self.stem(x)))
        return self.classifier(x.mean(dim=(2, 3)))
