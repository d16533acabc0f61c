"""ONNX export of a trained network, checked against PyTorch with ONNX Runtime."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgenas.errors import EdgenasError
from edgenas.files import atomic_path


def export_onnx(model: nn.Module, example: torch.Tensor, path: Path) -> Path:
    """Write ``model`` (eval mode) as ONNX (opset 18, one file, batch axis dynamic).

    The file appears complete or not at all (written beside, then renamed: :mod:`edgenas.files`).
    """
    model = model.eval()
    path = Path(path)
    batch = torch.export.Dim("batch", min=1, max=1024)
    with atomic_path(path) as staged, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        torch.onnx.export(
            model,
            (example,),
            str(staged),
            input_names=["features"],
            output_names=["logits"],
            dynamic_shapes=({0: batch},),
            external_data=False,
            verbose=False,
        )
    return path


def onnx_max_abs_diff(model: nn.Module, path: Path, example: torch.Tensor) -> float:
    """Largest |ONNX Runtime - PyTorch| output difference on ``example`` (a parity check)."""
    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise EdgenasError("onnxruntime is not installed: pip install onnxruntime") from exc
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: example.numpy()})[0]
    with torch.no_grad():
        want = model.eval()(example).numpy()
    return float(np.max(np.abs(got - want)))
