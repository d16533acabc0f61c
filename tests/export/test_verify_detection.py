"""A detector's int8 ``.tflite``: every level's map comes out of LiteRT and TFLite Micro in the
module's order, and the int8 model scored with the float model's decoding keeps its mAP.

The detector is fitted to a handful of scenes (scored on those scenes): what is checked is that
quantization and the microcontroller interpreter keep what the float network found, not how well
it generalises.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("litert_torch")
pytest.importorskip("tflite_micro")

from edgenas.errors import InvalidInputError  # noqa: E402
from edgenas.evaluators.detection import DetectionEvaluator  # noqa: E402
from edgenas.export.audit import audit_model  # noqa: E402
from edgenas.export.tflite import inspect_tflite  # noqa: E402
from edgenas.export.verify import quantize_input, run_int8  # noqa: E402
from edgenas.export.verify_detection import verify_detection  # noqa: E402
from edgenas.hardware import load_target  # noqa: E402
from edgenas.spaces.detection import DetectionSpace  # noqa: E402
from edgenas.spaces.filter import filter_by_ops  # noqa: E402
from edgenas.tasks.detection import DetectionData  # noqa: E402
from edgenas.tasks.detection_synthetic import load_synthetic_detection  # noqa: E402


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[DetectionEvaluator, torch.nn.Module, DetectionData, Path, dict]:
    """A small NPU-filtered detector trained on 40 scenes of 32 px until it finds some of their
    defects, and its int8 file checked on LiteRT and TFLite Micro (converted once for every test)."""
    folder = tmp_path_factory.mktemp("detector")
    data = load_synthetic_detection(folder, seed=1, n_images=40, image_size=32)
    data = DetectionData.build(data.name, data.classes, {"train": data.train, "val": data.train, "test": data.train}, data.source)
    target = load_target("npu-int8")
    space, _ = filter_by_ops(DetectionSpace.for_task(data.input_shape, len(data.classes)), target.native_ops, target.name)
    arch = space.sample(np.random.default_rng(0))
    evaluator = DetectionEvaluator(space, data, epochs=40, batch_size=8, seed=0)
    model = evaluator.train(arch).module.cpu().eval()
    path = folder / "det.tflite"
    return evaluator, model, data, path, evaluator.verify_int8(model, path)


def test_int8_detector_keeps_its_map_on_litert_and_tflite_micro(fitted) -> None:
    evaluator, model, data, path, figures = fitted
    fp32 = evaluator.score(model, data.test)["map_50"]
    assert fp32 > 0.1  # the check below means something only if the float network finds boxes
    assert figures["tflm_int8_test_map_50"] == pytest.approx(figures["litert_int8_test_map_50"], abs=0.02)
    assert figures["tflm_int8_test_map_50"] == pytest.approx(fp32, abs=0.1)
    assert figures["tflm_litert_max_lsb_diff"] <= 1
    assert figures["tflm_arena_bytes"] > 0 and figures["tflite_file_bytes"] == path.stat().st_size
    audit = audit_model(path, load_target("npu-int8"))
    assert audit.all_native, [op.requirement for op in audit.fallback]


def test_every_level_comes_out_in_the_modules_order(fitted) -> None:
    evaluator, model, data, path, _ = fitted
    x = evaluator.inputs(data.test, np.arange(4), model.resolution, torch.device("cpu")).numpy()
    info = inspect_tflite(path.read_bytes())
    with torch.no_grad():
        want = [o.numpy() for o in model(torch.from_numpy(x))]
    got = run_int8(path.read_bytes(), quantize_input(x, info), "tflm")
    assert len(got) == len(want) == len(info.outputs)
    for out, q, w in zip(info.outputs, got, want, strict=True):
        assert q.shape == w.shape
        assert np.max(np.abs(out.dequantize(q) - w)) < 0.1 * (np.max(np.abs(w)) + 1e-6) + 4 * out.scale


def test_mismatched_images_and_targets_are_one_clear_error(fitted) -> None:
    evaluator, model, data, path, _ = fitted
    x = evaluator.inputs(data.test, np.arange(4), model.resolution, torch.device("cpu")).numpy()
    with pytest.raises(InvalidInputError, match="3 images for 4 targets"):
        verify_detection(path, x[:3], data.test.targets()[:4], lambda maps: [])
