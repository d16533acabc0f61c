"""Quantization-aware training (QAT): fine-tune a trained network with int8 fake quantization,
then convert it to the same full-integer int8 ``.tflite`` as post-training quantization.

Post-training quantization (:func:`edgenas.export.tflite.convert_int8`) rounds weights and
activations that were never trained to survive rounding; small keyword-spotting networks can lose
accuracy there. QAT lets the weights adapt to the int8 grid: the PT2E flow inserts fake-quantize
nodes where the converter will put real int8 arithmetic (``prepare_qat_pt2e`` with the same
litert-torch quantizer the PTQ route uses, configured with ``is_qat=True``), training runs a few
epochs from the float weights at a small learning rate, and ``convert_pt2e`` plus
``litert_torch.convert`` write the int8 model exactly as the PTQ route does.

Batch norm is folded into its conv *before* the fake quantizers are inserted: the deployed
network has no batch norm, so training the folded conv trains exactly the weights that are
rounded, and there are no running statistics to freeze. The activation ranges are moving
averages while training; they are frozen for the last epoch so the weights settle on the final
grid, and stay frozen afterwards (evaluating the QAT model does not move them).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgenas.errors import InvalidInputError, MissingExtraError
from edgenas.export.tflite import TfliteInfo, _int8_quantizer, _require_litert, write_quantized


@dataclass(frozen=True)
class QatSettings:
    """How a finalist is fine-tuned with fake quantization.

    A few epochs at a learning rate well below the search's peak: the float weights are already
    good, QAT only nudges them onto the int8 grid; a large step would undo the training.
    """

    epochs: int = 3
    lr: float = 2e-4
    weight_decay: float = 1e-4
    batch_size: int = 64
    label_smoothing: float = 0.1  # the search's recipe (edgenas.evaluators.train)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise InvalidInputError(f"QAT needs at least 1 epoch, got {self.epochs}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InvalidInputError(f"the QAT learning rate must be a positive number, got {self.lr}")
        if self.batch_size < 1:
            raise InvalidInputError(f"the QAT batch size must be at least 1, got {self.batch_size}")


@dataclass
class QatModel:
    """A fake-quantized network after QAT (eval mode, ranges frozen) and the quantizer that annotated it.

    ``module`` runs in PyTorch with the int8 rounding simulated: its outputs are what the int8
    ``.tflite`` should compute, up to a rounding step. ``convert_qat_int8`` writes that file. It
    is an exported graph: call it, but do not ``.train()``/``.eval()`` it (torchao refuses).
    """

    module: Any  # torch.fx.GraphModule
    quantizer: Any
    example: Any  # a (1, *clip_shape) input, as the converter wants it


def require_qat_extra(what: str = "quantization-aware training") -> None:
    """Raise ``MissingExtraError`` unless QAT can run to its end: litert-torch and torchao to
    train and convert, ai-edge-litert to inspect, tflite-micro to measure the int8 model."""
    try:
        import ai_edge_litert.interpreter  # noqa: F401
        import litert_torch  # noqa: F401
        import tflite_micro  # noqa: F401
        import torchao.quantization.pt2e  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError(
            f"{what} needs litert-torch, ai-edge-litert and tflite-micro: pip install 'edgenas[tflite]' ({exc})"
        ) from None


def _observers(module: Any, enabled: bool) -> None:
    from torchao.quantization.pt2e import disable_observer, enable_observer

    module.apply(enable_observer if enabled else disable_observer)


def _qat_quantizer() -> Any:
    """The PTQ route's quantizer, without litert-torch's QAT-only conv + batch norm annotators.

    Those annotate a conv followed by batch norm so that ``prepare_qat_pt2e`` can fake-fold the
    two while training. Here batch norm is folded before export, so they would match nothing;
    and with the installed torchao they fail outright (they hand a function, not a module, to
    ``torch.export``). Every other annotation, and so the converted graph, is the PTQ route's.
    """
    quantizer = _int8_quantizer()
    quantizer.STATIC_QAT_ONLY_OPS = []
    return quantizer


def train_qat(model: Any, x: np.ndarray, y: np.ndarray, settings: QatSettings | None = None) -> QatModel:
    """Fine-tune a copy of ``model`` (a trained float ``torch.nn.Module``) with int8 fake quantization, on the CPU.

    Args:
        model: Takes ``(batch, *clip_shape)`` standardised features; not modified.
        x: Training clips, preprocessed as at inference (the same the search trained on).
        y: Their labels.
        settings: Epochs, learning rate, batch size, seed (default :class:`QatSettings`).

    Raises:
        MissingExtraError: litert-torch / torchao are not installed.
    """
    _require_litert()
    import torch
    from litert_torch.quantize import pt2e_quantizer
    from torchao.quantization.pt2e import move_exported_model_to_eval, move_exported_model_to_train
    from torchao.quantization.pt2e.quantize_pt2e import prepare_qat_pt2e

    from edgenas.spaces.nn.blocks import fold_batchnorm

    settings = settings or QatSettings()
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y)
    if x.ndim < 2 or len(x) == 0 or len(x) != len(y):
        raise InvalidInputError(f"QAT needs clips shaped (clips, ...) with one label each, got {x.shape} and {len(y)} labels")
    clips = torch.from_numpy(np.ascontiguousarray(x))
    labels = torch.from_numpy(y.astype(np.int64))
    generator = torch.Generator().manual_seed(settings.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        folded = fold_batchnorm(copy.deepcopy(model).cpu().eval())
        batch = torch.export.Dim("batch", min=1, max=4096)
        two = (torch.cat([clips[:1], clips[:1]]),)
        graph = torch.export.export(folded, two, dynamic_shapes=({0: batch},), strict=True).module()
        config = pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True, is_qat=True)
        quantizer = _qat_quantizer().set_global(config)
        prepared = prepare_qat_pt2e(graph, quantizer)
        optimizer = torch.optim.AdamW(prepared.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
        steps_per_epoch = math.ceil(len(clips) / settings.batch_size)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings.epochs * steps_per_epoch)
        loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=settings.label_smoothing)
        move_exported_model_to_train(prepared)
        for epoch in range(settings.epochs):
            _observers(prepared, enabled=epoch < settings.epochs - 1 or settings.epochs == 1)
            order = torch.randperm(len(clips), generator=generator)
            for step in range(steps_per_epoch):
                idx = order[step * settings.batch_size : (step + 1) * settings.batch_size]
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(prepared(clips[idx]), labels[idx])
                if not torch.isfinite(loss):
                    raise InvalidInputError(f"QAT fine-tuning diverged (loss {loss.item()} in epoch {epoch + 1})")
                loss.backward()
                optimizer.step()
                schedule.step()
        _observers(prepared, enabled=False)
        move_exported_model_to_eval(prepared)
    return QatModel(module=prepared, quantizer=quantizer, example=(clips[:1].clone(),))


def convert_qat_int8(qat: QatModel, path: Path, *, require_full_int8: bool = True) -> TfliteInfo:
    """Write the QAT model as a full-integer int8 ``.tflite`` at ``path`` (as the PTQ route does).

    ``qat.module`` is left usable: the conversion works on a copy.

    Raises:
        UnsupportedOpError: the converted model is not full-integer (it is not written).
    """
    _require_litert()
    import torch
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    with torch.no_grad():
        quantized = convert_pt2e(copy.deepcopy(qat.module), fold_quantize=False)
    return write_quantized(quantized, qat.example, qat.quantizer, Path(path), require_full_int8=require_full_int8)
