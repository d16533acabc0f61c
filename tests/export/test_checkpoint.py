import numpy as np
import pytest
import torch

from edgenas.errors import InvalidInputError
from edgenas.export.checkpoint import load_checkpoint, save_checkpoint
from edgenas.spaces import KwsSpace


def test_checkpoint_round_trip_rebuilds_the_same_network(tmp_path):
    space = KwsSpace(num_classes=12)
    arch = space.sample(np.random.default_rng(3))
    module = space.build(arch).eval()
    path = save_checkpoint(
        tmp_path / "model.pt",
        module,
        arch,
        {"num_classes": 12, "input_shape": [49, 10]},
        [str(i) for i in range(12)],
        np.zeros(10),
        np.ones(10),
    )
    loaded = load_checkpoint(path)
    assert loaded.arch == arch
    x = torch.randn(4, 49, 10)
    with torch.no_grad():
        assert torch.equal(loaded.module(x), module(x))


def test_a_foreign_file_is_rejected(tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(InvalidInputError, match="checkpoint"):
        load_checkpoint(bad)
