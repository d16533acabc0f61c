"""The firmware bundle: its tables against the training front end, the C front end built and run
on the host and (with the Arm toolchain) on the Cortex-M7 in QEMU against the Python features,
the operator resolver, and ``edgenas export --format firmware`` end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.fft

from edgenas.errors import InvalidInputError, UnsupportedOpError
from edgenas.export.c_array import write_c_array
from edgenas.export.firmware import build
from edgenas.export.firmware.bundle import test_signals as signals
from edgenas.export.firmware.ctext import c_float, c_string
from edgenas.export.firmware.frontend import dct_matrix, python_features, sparse_filterbank, training_front_end
from edgenas.export.firmware.resolver import resolver_header
from edgenas.tasks import audio

from .test_audit import BUILTIN_DIR, run_cli

#: Largest |C - Python| MFCC difference accepted: float32 rounding of a different FFT and sum order
#: (measured 3e-5 on x86-64 and in QEMU; MFCCs span about +-100).
TOLERANCE = 1e-3
ARM_SKIP = f"the Cortex-M7 check needs the Arm toolchain and QEMU: {build.ARM_PACKAGES} qemu-system-arm"
needs_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="the host check needs a C compiler: apt-get install gcc")
needs_arm = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in (build.ARM_CC, build.ARM_SIZE, build.QEMU)), reason=ARM_SKIP
)


def test_tables_are_the_training_front_end() -> None:
    front = training_front_end()
    logmel = np.random.default_rng(0).standard_normal((5, front.mel_bands)).astype(np.float32)
    expected = scipy.fft.dct(logmel, type=2, norm="ortho", axis=-1)[:, : front.mfcc]
    assert np.abs(logmel @ dct_matrix(front).T - expected).max() < 1e-5
    bank, dense = sparse_filterbank(front), audio.mel_filterbank()
    rebuilt = np.zeros_like(dense)
    for band, (first, count, offset) in enumerate(zip(bank.first_bin, bank.bins, bank.offset, strict=True)):
        rebuilt[band, first : first + count] = bank.weights[offset : offset + count]
    assert np.array_equal(rebuilt, dense)  # sparse, but the very weights training applies
    assert bank.weights.size < dense.size / 20


def test_c_literals_read_back_exactly() -> None:
    for value in (0.1, 3.0, -1e-6, 1e-38, 123456.789):
        literal = c_float(value)
        assert literal.endswith("f") and any(ch in literal for ch in ".e")
        assert np.float32(float(literal[:-1])) == np.float32(value)
    assert c_string('a"b\\é') == '"a\\"b\\\\\\303\\251"'


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> tuple[bytes, object]:
    """A small untrained kws network converted to int8 (one conversion for the module)."""
    pytest.importorskip("litert_torch", reason="int8 TFLite export needs the tflite extra: pip install 'edgenas[tflite]'")
    import torch

    from edgenas.export.tflite import convert_int8, inspect_tflite
    from edgenas.spaces.kws import FAMILIES, KwsSpace

    torch.manual_seed(0)
    space = KwsSpace(num_classes=3, input_shape=(49, 10), max_depth=3)
    arch = space.arch([FAMILIES.index("2d"), 0, 1, 0, 1] + [0, 0, 1, 1, 0, 0] + [0, 0, 0] * (space.max_depth - 2))
    calibration = np.random.default_rng(0).standard_normal((32, 49, 10)).astype(np.float32)
    path = tmp_path_factory.mktemp("model") / "model.tflite"
    convert_int8(space.build(arch).eval(), calibration, path)
    return path.read_bytes(), inspect_tflite(path.read_bytes())


@pytest.fixture(scope="module")
def bundle(converted, tmp_path_factory):
    from edgenas.export.firmware import write_firmware_bundle

    model_bytes, info = converted
    mean = np.linspace(-20, 5, 10).astype(np.float32)
    std = np.linspace(1, 6, 10).astype(np.float32)
    folder = tmp_path_factory.mktemp("fw")
    write_c_array(model_bytes, folder, arena_bytes=4096)  # what --format c writes, beside the bundle
    return write_firmware_bundle(folder, model_bytes, info, ["yes", "no", '"odd"'], mean, std)


def _python_int8(features: np.ndarray, info) -> np.ndarray:
    from edgenas.export.verify import quantize_input

    mean = np.linspace(-20, 5, 10).astype(np.float32)
    std = np.linspace(1, 6, 10).astype(np.float32)
    return quantize_input((features - mean) / std, info)


def test_bundle_files(bundle, converted) -> None:
    folder = bundle.folder
    for name in ("frontend.c", "frontend_tables.c", "labels.c", "model_settings.h", "op_resolver.h", "main.cc", "Makefile"):
        assert (folder / name).is_file(), name
    _, info = converted
    settings = (folder / "model_settings.h").read_text()
    assert f"EDGENAS_INPUT_ZERO_POINT {info.input_zero_point}\n" in settings
    assert f"EDGENAS_INPUT_SCALE {c_float(info.input_scale)}" in settings
    assert '"\\"odd\\""' in (folder / "labels.c").read_text() and "EDGENAS_NUM_LABELS 3" in (folder / "labels.h").read_text()
    expected = np.fromfile(folder / "check" / "expected.bin", dtype="<f4").reshape(-1, 49, 10)
    clips = np.fromfile(folder / "check" / "clips.bin", dtype="<i2").reshape(-1, audio.CLIP_SAMPLES)
    assert np.array_equal(expected, python_features(clips)) and len(clips) == bundle.check_clips


def test_resolver_has_exactly_the_model_operators(converted) -> None:
    model_bytes, info = converted
    header = resolver_header(model_bytes)
    distinct = list(dict.fromkeys(info.operators))
    assert f"kEdgenasOpCount = {len(distinct)};" in header
    assert header.count("TF_LITE_ENSURE_STATUS(resolver.Add") == len(distinct)
    assert "resolver.AddConv2D()" in header and "resolver.AddFullyConnected()" in header


def test_an_operator_without_a_kernel_is_refused(converted, monkeypatch) -> None:
    from edgenas.export.firmware import resolver

    monkeypatch.setattr(resolver, "tflite_operators", lambda model: [("CONV_2D", "conv"), ("RFFT2D", "x")])
    with pytest.raises(UnsupportedOpError, match="RFFT2D"):
        resolver.resolver_header(converted[0])


@needs_cc
def test_host_front_end_matches_python(bundle, converted, tmp_path) -> None:
    clips = signals(training_front_end(), count=6, seed=1)
    expected = python_features(clips)
    run = build.run_host(build.build_host(bundle.folder, tmp_path / "build"), clips, tmp_path / "run", expected)
    assert np.abs(run.features - expected).max() < TOLERANCE
    assert "max |C - Python|" in run.console
    quantised = _python_int8(expected, converted[1])
    assert np.abs(run.quantised.astype(int) - quantised.astype(int)).max() <= 1  # a rounding tie at most


@needs_arm
def test_cortex_m7_front_end_in_qemu_matches_python(bundle, converted, tmp_path) -> None:
    clips = signals(training_front_end(), count=4, seed=2)
    expected = python_features(clips)
    arm = build.build_m7(bundle.folder, tmp_path / "m7")
    run = build.run_qemu(arm.elf, clips, tmp_path / "run", expected, timeout=120)
    assert np.abs(run.features - expected).max() < TOLERANCE
    assert np.abs(run.quantised.astype(int) - _python_int8(expected, converted[1]).astype(int)).max() <= 1
    assert 0 < arm.code_bytes < 4096 and 8_000 < arm.table_bytes < 16_000 and arm.ram_bytes == 0
    assert arm.stack_chain[0] == "edgenas_fe_clip" and 0 < arm.stack_bytes < 1024
    assert "logf" in arm.unmeasured


def test_missing_toolchain_names_the_package(bundle, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(build.shutil, "which", lambda tool: None)
    with pytest.raises(InvalidInputError, match="gcc-arm-none-eabi") as info:
        build.build_m7(bundle.folder, tmp_path)
    assert "\n" not in str(info.value)
    with pytest.raises(InvalidInputError, match="apt-get install qemu-system-arm"):
        build.run_qemu(tmp_path / "x.elf", np.zeros((1, audio.CLIP_SAMPLES), np.int16), tmp_path)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A kws run folder on the shared real-speech sample, with untrained best weights."""
    from tests.conftest import shared_data

    folder = shared_data() / "kws" / "speech_commands_v0.01_sample"
    if not folder.is_dir():
        pytest.skip(f"shared data not found at {folder} (set EDGENAS_SHARED_DATA)")
    pytest.importorskip("litert_torch", reason="int8 TFLite export needs the tflite extra")
    pytest.importorskip("tflite_micro", reason="the export measures the arena with TFLite Micro (tflite extra)")
    import torch

    from edgenas.export.checkpoint import save_checkpoint
    from edgenas.spaces import KwsSpace
    from edgenas.store import SqliteStore
    from edgenas.tasks.kws import load_kws

    run = tmp_path_factory.mktemp("run")
    data = load_kws(folder, seed=0)
    space = KwsSpace(num_classes=len(data.classes), input_shape=tuple(data.input_shape))
    best = space.arch([1, 0, 1, 0, 0] + [0] * 18)
    identity = {"task": "kws", "data": str(folder), "target": str(BUILTIN_DIR / "cortex-m7.yaml"), "epochs": 1, "seed": 0}
    with SqliteStore(run / "trials.db") as store:
        store.write_config({"identity": identity, "space": "kws", "data": {"input_shape": [49, 10]}})
    torch.manual_seed(0)
    params = {"num_classes": len(data.classes), "input_shape": list(data.input_shape)}
    save_checkpoint(run / "best" / "model.pt", space.build(best), best, params, data.classes, data.feature_mean, data.feature_std)
    return run


def test_export_firmware_end_to_end(run_dir: Path, monkeypatch, capsys, tmp_path) -> None:
    out = tmp_path / "fw"
    args = ("export", str(run_dir), "--format", "firmware", "--out", str(out), "--calibration-clips", "32", "--json")
    code, stdout, _ = run_cli(monkeypatch, capsys, *args)
    record = json.loads(stdout)
    assert code == 0 and record["firmware_dir"] == str(out)
    assert (out / "model_data.cc").is_file() and (out / "op_resolver.h").is_file()
    assert record["labels"][0] == "yes" and len(record["labels"]) == 12
    if shutil.which("cc"):
        assert record["frontend_host_max_abs_diff"] < TOLERANCE


def test_export_firmware_without_a_best_model_is_one_line(run_dir: Path, monkeypatch, capsys, tmp_path) -> None:
    empty = tmp_path / "run"
    empty.mkdir()
    shutil.copy(run_dir / "trials.db", empty / "trials.db")
    code, _, err = run_cli(monkeypatch, capsys, "export", str(empty), "--format", "firmware", "--out", str(tmp_path / "o"))
    assert code == 2 and "model.pt not found" in err and len(err.strip().splitlines()) == 1


def test_export_firmware_of_another_task_is_refused() -> None:
    from edgenas.export.firmware.bundle import check_checkpoint

    with pytest.raises(InvalidInputError, match="keyword-spotting"):
        check_checkpoint(["a", "b"], np.zeros(1), np.ones(1), [28, 28, 1])


def _tflm_stub(folder: Path, outputs: int) -> Path:
    """The few TensorFlow Lite Micro declarations main.cc and op_resolver.h use, as a stub: an
    interpreter whose output favours class 1, a resolver that fails past its N slots. It checks
    the bundle's own C/C++ (syntax, C linkage, the resolver's count), not TFLite Micro."""
    from edgenas.export.firmware.resolver import ADD_CALLS

    micro = folder / "tensorflow" / "lite" / "micro"
    (folder / "tensorflow" / "lite" / "schema").mkdir(parents=True)
    micro.mkdir(parents=True, exist_ok=True)
    adds = "\n".join(
        f"  TfLiteStatus {name}() {{ return ++used_ <= N ? kTfLiteOk : kTfLiteError; }}" for name in ADD_CALLS.values()
    )
    (micro / "micro_mutable_op_resolver.h").write_text(
        "#pragma once\n#include <cstddef>\n#include <cstdint>\n"
        "typedef enum { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;\n"
        "#define TF_LITE_ENSURE_STATUS(a) do { if ((a) != kTfLiteOk) return kTfLiteError; } while (0)\n"
        "struct TfLiteTensor { union { int8_t* int8; } data; std::size_t bytes; };\n"
        "namespace tflite {\ntemplate <unsigned int N> class MicroMutableOpResolver {\n public:\n"
        f"{adds}\n private:\n  unsigned int used_ = 0;\n}};\n}}\n"
    )
    (micro / "micro_interpreter.h").write_text(
        '#pragma once\n#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"\n'
        "namespace tflite {\nstruct Model { int version() const { return 3; } };\n"
        "inline const Model* GetModel(const void*) { static Model m; return &m; }\n"
        "class MicroInterpreter {\n public:\n"
        "  template <class R> MicroInterpreter(const Model*, R&, std::uint8_t*, std::size_t) {}\n"
        f"  TfLiteStatus AllocateTensors() {{ in_.data.int8 = a_; in_.bytes = 490; out_.data.int8 = b_; out_.bytes = {outputs};"
        " return kTfLiteOk; }\n"
        "  TfLiteStatus Invoke() { for (int i = 0; i < 64; ++i) b_[i] = -100; b_[1] = 90; return kTfLiteOk; }\n"
        "  TfLiteTensor* input(int) { return &in_; }\n  TfLiteTensor* output(int) { return &out_; }\n"
        " private:\n  TfLiteTensor in_{}, out_{};\n  std::int8_t a_[490], b_[64];\n};\n}\n"
    )
    (micro / "micro_log.h").write_text(
        '#pragma once\n#include <cstdio>\n#define MicroPrintf(...) (std::printf(__VA_ARGS__), std::printf("\\n"))\n'
    )
    (folder / "tensorflow" / "lite" / "schema" / "schema_generated.h").write_text("#define TFLITE_SCHEMA_VERSION 3\n")
    return folder


@pytest.mark.skipif(shutil.which("cc") is None or shutil.which("c++") is None, reason="needs cc and c++: apt-get install g++")
def test_example_main_builds_and_classifies_against_a_stub(bundle, tmp_path) -> None:
    import subprocess

    stub = _tflm_stub(tmp_path / "stub", outputs=3)
    objects = []
    for source in ("frontend.c", "frontend_tables.c", "model_settings.c", "labels.c", "example_clip.c"):
        obj = tmp_path / f"{Path(source).stem}.o"
        subprocess.run(["cc", "-std=c99", "-O2", "-Wall", "-Werror", "-c", source, "-o", str(obj)], cwd=bundle.folder, check=True)
        objects.append(str(obj))
    # the array as c_array.py should close it (test_model_array_is_valid_cpp follows that defect)
    model_data = tmp_path / "model_data.cc"
    model_data.write_text((bundle.folder / "model_data.cc").read_text().replace("\n}};\n", "\n};\n"))
    exe = tmp_path / "classify"
    command = ["c++", "-std=c++17", "-O2", "-Wall", "-Werror", f"-I{stub}", "-I.", "main.cc", str(model_data), *objects]
    subprocess.run([*command, "-lm", "-o", str(exe)], cwd=bundle.folder, check=True)
    done = subprocess.run([str(exe)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout
    assert done.stdout.startswith("label: no (logit")


@pytest.mark.skipif(shutil.which("c++") is None, reason="needs c++: apt-get install g++")
def test_model_array_is_valid_cpp(bundle) -> None:
    import subprocess

    done = subprocess.run(["c++", "-std=c++17", "-fsyntax-only", "model_data.cc"], cwd=bundle.folder, check=False)
    assert done.returncode == 0


@pytest.mark.skipif(
    shutil.which("make") is None or shutil.which("cc") is None, reason="needs make and cc: apt-get install make gcc"
)
def test_bundle_makefile_checks_and_names_the_missing_toolchain(bundle, tmp_path) -> None:
    import subprocess

    def make(*args: str) -> subprocess.CompletedProcess[str]:
        command = ["make", "-s", f"BUILD={tmp_path / 'build'}", *args]
        return subprocess.run(command, cwd=bundle.folder, capture_output=True, text=True, check=False)

    done = make("frontend-check")
    assert done.returncode == 0 and "max |C - Python| MFCC difference" in done.stdout, done.stderr
    assert float(done.stdout.split("difference")[-1]) < TOLERANCE
    missing = make("frontend-qemu", "ARM_CC=edgenas-no-such-gcc")
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi" in missing.stderr
