"""The agent's ``tvm`` runtime: compiled libraries timed on the agent's device, and everything it refuses.

Unit checks first (the inputs a client sends, the ELF header of an upload, the opt-in), then a
real agent on loopback started with ``--runtimes tvm,onnxruntime --allow-native-code``: a library
``edgenas compile`` built is timed there (directly, and by ``compile --agent``), a library built
for another machine is refused naming both, and a library that crashes ends its child process,
not the agent. The TVM parts are skipped where the ``tvm`` extra is absent.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgenas.agent.client import AgentClient, AgentError
from edgenas.agent.native import check_library
from edgenas.agent.protocol import ProtocolError, TensorSpec, inputs_to_dict, parse_inputs
from edgenas.agent.server import available_runtimes
from edgenas.errors import InvalidInputError
from tests.agent.conftest import TOKEN, Agent, onnx_model, start_agent, stop
from tests.cli.test_cli import assert_one_line_error, edgenas

FAST = {"repeats": 5, "warmup": 1}


# -- what a client sends with a library -------------------------------------------------------
def test_inputs_round_trip() -> None:
    specs = parse_inputs('{"X": {"shape": [1, 3, 8, 8]}, "ids": {"shape": [1, 4], "dtype": "int64"}}')
    assert specs == {"X": TensorSpec((1, 3, 8, 8), "float32"), "ids": TensorSpec((1, 4), "int64")}
    assert parse_inputs(inputs_to_dict(specs)) == specs


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("not json", "not JSON"),
        ("[]", "JSON object of input names"),
        ("{}", "JSON object of input names"),
        ('{"X": [1, 3]}', "not a JSON object with 'shape'"),
        ('{"X": {"shape": []}}', "list of 1 to 8 positive"),
        ('{"X": {"shape": [1, 0]}}', "list of 1 to 8 positive"),
        ('{"X": {"shape": [1, true]}}', "list of 1 to 8 positive"),
        ('{"X": {"shape": [1, 2], "dtype": "complex64"}}', "accepted: float32"),
        ('{"X": {"shape": [100000, 100000]}}', "values in all"),
        (json.dumps({f"x{i}": {"shape": [1]} for i in range(17)}), "at most 16"),
    ],
)
def test_bad_inputs_are_one_clear_line(raw: str, fragment: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_inputs(raw)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


# -- what an upload must be -----------------------------------------------------------------
def _elf(path: Path, *, e_type: int = 3, machine: int = 62, bits: int = 64) -> Path:
    header = b"\x7fELF" + bytes([2 if bits == 64 else 1, 1, 1]) + bytes(9) + struct.pack("<HH", e_type, machine)
    path.write_bytes(header + bytes(64))
    return path


@pytest.mark.parametrize(
    ("make", "machine", "fragment"),
    [
        (lambda p: p.write_bytes(b"PK\x03\x04 zip"), "x86_64", "no ELF header"),
        (lambda p: _elf(p, e_type=2), "x86_64", "not a shared library"),
        (lambda p: _elf(p, machine=183), "x86_64", "built for aarch64 (64-bit); this device is x86_64"),
        (lambda p: _elf(p, machine=62), "aarch64", "built for x86_64 (64-bit); this device is aarch64"),
        (lambda p: _elf(p, machine=40, bits=32), "aarch64", "built for arm (32-bit)"),
    ],
)
def test_a_library_for_another_machine_is_refused_before_it_is_opened(tmp_path: Path, make, machine: str, fragment: str) -> None:
    path = tmp_path / "model.so"
    make(path)
    with pytest.raises(InvalidInputError) as caught:
        check_library(path, machine)
    assert fragment in str(caught.value)


def test_an_aarch64_library_passes_on_an_aarch64_device(tmp_path: Path) -> None:
    check_library(_elf(tmp_path / "model.so", machine=183), "aarch64")


def test_native_code_is_never_offered_by_default() -> None:
    assert "tvm" not in available_runtimes()
    with pytest.raises(InvalidInputError, match="--allow-native-code"):
        available_runtimes(("tvm",))


def test_serve_flags_for_native_code_are_one_line(tmp_path: Path) -> None:
    from tests.agent.conftest import token_file

    tokens = str(token_file(tmp_path))
    serve = ("agent", "serve", "--token-file", tokens)
    assert_one_line_error(edgenas(*serve, "--runtimes", "tvm", timeout=120), "--allow-native-code")
    assert_one_line_error(edgenas(*serve, "--allow-native-code", timeout=120), "goes with --runtimes naming tvm")


# -- a real agent running libraries ------------------------------------------------------------
@pytest.fixture(scope="module")
def tvm_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    pytest.importorskip("tvm")
    running = start_agent(tmp_path_factory.mktemp("tvm-agent"), "--runtimes", "tvm,onnxruntime", "--allow-native-code")
    yield running
    stop(running)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny MatMul+ReLU network compiled untuned for this CPU: its folder (untuned.so, inputs.json)."""
    pytest.importorskip("tvm")
    from edgenas.compile import compile_model

    folder = tmp_path_factory.mktemp("built")
    result = compile_model(onnx_model(folder / "tiny.onnx"), tune=False, out=folder / "llvm", **FAST)
    return result.out


def test_compile_writes_the_inputs_a_library_does_not_declare(built: Path) -> None:
    assert json.loads((built / "inputs.json").read_text()) == {"X": {"shape": [1, 64], "dtype": "float32"}}


def test_the_agent_times_a_compiled_library_with_the_profile_protocol(tvm_agent: Agent, built: Path) -> None:
    client = AgentClient(tvm_agent.url, TOKEN)
    assert "tvm" in client.info().runtimes and ".so" in client.info().suffixes
    m = client.measure(built / "untuned.so", threads=1, **FAST)  # the runtime from the suffix, the inputs from inputs.json
    assert m.runtime == "tvm" and m.runtime_version.startswith("apache-tvm")
    assert m.repeats == 5 and m.warmup == 1 and m.input_shape == (1, 64)
    assert all(t > 0 for t in m.times_ms) and len(m.cpu_times_ms) == 5
    assert any(op.op_type.startswith("fused_matmul") for op in m.ops)
    assert m.peak_rss_mb is not None and m.peak_rss_mb > 0  # the child's own peak
    assert not [p for p in tvm_agent.tmpdir.iterdir() if p.name.startswith("edgenas-agent-")]


def test_compile_agent_times_the_build_on_the_device_and_records_it(tvm_agent: Agent, built: Path, tmp_path: Path) -> None:
    out = tmp_path / "via-agent"
    result = edgenas(
        "compile",
        str(built.parent / "tiny.onnx"),
        "--no-tune",
        "--repeats",
        "5",
        "--warmup",
        "1",
        "--out",
        str(out),
        "--agent",
        tvm_agent.url,
        "--agent-token-file",
        str(tvm_agent.token_file),
        "--json",
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    agent = summary["agent"]
    assert agent["url"] == tvm_agent.url and agent["runtime"].startswith("apache-tvm")
    assert agent["builds"]["untuned"]["repeats"] == 5 and agent["builds"]["untuned"]["latency_ms"]["median"] > 0
    assert json.loads((out / "compile.json").read_text())["agent"]["device"]["machine"] == agent["device"]["machine"]


def test_an_agent_without_tvm_is_refused_before_building(agent: Agent, tmp_path: Path) -> None:
    pytest.importorskip("tvm")
    model = onnx_model(tmp_path / "tiny.onnx")
    args = ("compile", str(model), "--no-tune", "--agent", agent.url, "--agent-token-file", str(agent.token_file))
    assert_one_line_error(edgenas(*args, timeout=120), "not tvm", "--allow-native-code")
    assert not (tmp_path / "compiled").exists()


def test_a_library_for_another_machine_is_refused_by_the_agent(tvm_agent: Agent, tmp_path: Path) -> None:
    pytest.importorskip("tvm")
    if shutil.which("aarch64-linux-gnu-gcc") is None:
        pytest.skip("no aarch64 cross compiler (make setup installs gcc-aarch64-linux-gnu)")
    model = onnx_model(tmp_path / "tiny.onnx")
    target = "llvm -mtriple=aarch64-linux-gnu -mcpu=cortex-a72"
    args = ("compile", str(model), "--target", target, "--agent", tvm_agent.url, "--agent-token-file", str(tvm_agent.token_file))
    result = edgenas(*args, timeout=300)
    machine = AgentClient(tvm_agent.url, TOKEN).info().device.machine
    if machine == "aarch64":
        assert result.returncode == 0, result.stderr  # the library's own device: it runs
    else:
        assert_one_line_error(result, "built for aarch64", f"this device is {machine}")


def test_a_library_that_crashes_ends_its_child_not_the_agent(tvm_agent: Agent, built: Path, tmp_path: Path) -> None:
    if shutil.which("gcc") is None:
        pytest.skip("no C compiler to build a crashing library")
    source = tmp_path / "boom.c"
    source.write_text("#include <signal.h>\n__attribute__((constructor)) static void boom(void) { raise(SIGSEGV); }\n")
    library = tmp_path / "boom.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    client = AgentClient(tvm_agent.url, TOKEN)
    specs = parse_inputs((built / "inputs.json").read_text())
    with pytest.raises(AgentError, match="crashed the TVM runtime \\(SIGSEGV\\)"):
        client.measure(library, **FAST, inputs=specs)
    assert tvm_agent.proc.poll() is None
    assert client.measure(built / "untuned.so", **FAST).repeats == 5  # still serving, still measuring


@pytest.mark.parametrize(
    ("inputs", "fragment"),
    [
        ({"X": TensorSpec((1, 32))}, "32 vs. 64"),  # TVM's own shape check, as one line
        (None, "needs 'inputs'"),
    ],
)
def test_wrong_or_missing_inputs_are_a_refusal(tvm_agent: Agent, built: Path, tmp_path: Path, inputs, fragment: str) -> None:
    import httpx

    library = tmp_path / "lib.so"  # no inputs.json beside it
    library.write_bytes((built / "untuned.so").read_bytes())
    fields = {"repeats": "3", "warmup": "0", "runtime": "tvm"}
    if inputs is not None:
        fields["inputs"] = json.dumps(inputs_to_dict(inputs))
    response = httpx.post(
        f"{tvm_agent.url}/measure",
        headers=tvm_agent.headers(),
        files={"model": ("lib.so", library.read_bytes(), "application/octet-stream")},
        data=fields,
        timeout=120,
    )
    assert response.status_code == 400 and fragment in response.json()["detail"]


def test_inputs_on_an_onnx_upload_are_refused(tvm_agent: Agent, tmp_path: Path) -> None:
    import httpx

    model = onnx_model(tmp_path / "tiny.onnx")
    response = httpx.post(
        f"{tvm_agent.url}/measure",
        headers=tvm_agent.headers(),
        files={"model": ("tiny.onnx", model.read_bytes(), "application/octet-stream")},
        data={"repeats": "3", "warmup": "0", "inputs": json.dumps({"X": {"shape": [1, 64]}})},
        timeout=60,
    )
    assert response.status_code == 400 and "declares its own" in response.json()["detail"]


def test_a_library_without_inputs_json_is_one_line_on_the_client(tvm_agent: Agent, built: Path, tmp_path: Path) -> None:
    library = tmp_path / "lib.so"
    library.write_bytes((built / "untuned.so").read_bytes())
    result = edgenas("agent", "measure", tvm_agent.url, str(library), "--token-file", str(tvm_agent.token_file), timeout=120)
    assert_one_line_error(result, "declares no inputs", "inputs.json")


# -- the search with every candidate's build timed on the agent ------------------------------
def test_a_compiled_search_times_each_build_on_the_agent(tvm_agent: Agent, tmp_path: Path) -> None:
    from edgenas.store import RunFolder
    from edgenas.workflows.search import run_search
    from tests.compile.searches import compiled_search

    config = compiled_search(tmp_path, agent=tvm_agent.url, agent_token_file=tvm_agent.token_file, target="raspi4")
    summary = run_search(config).summary
    measured_by = summary["search"]["latency_measured_by"]
    assert "timed on" in measured_by and "by its agent" in measured_by
    assert summary["best"]["sources"]["latency_ms"] == "measured"
    cache = json.loads(RunFolder(config.run_dir).compiled_latency.read_text())
    assert cache["backend"] == measured_by and len(cache["latency_ms_by_arch"]) == 4  # 3 candidates and the baseline
    assert all(r["latency_ms"] > 0 and "load_1min" not in r for r in cache["latency_ms_by_arch"].values())
    with pytest.raises(InvalidInputError, match="--agent"):  # a resume must name the same agent
        run_search(compiled_search(tmp_path, target="raspi4", resume=True))


@pytest.mark.parametrize(
    ("flags", "fragments"),
    [
        (["--compile-target", "llvm -mtriple=aarch64-linux-gnu"], ["builds for aarch64", "agent's device"]),
        (["--tune-trials-per-candidate", "2"], ["MetaSchedule would time its schedules on this machine"]),
        (["--feedback-rounds", "2"], ["--feedback-rounds tunes the finalists on this machine"]),
    ],
)
def test_what_a_compiled_search_on_an_agent_cannot_do_is_one_line(
    tvm_agent: Agent, tmp_path: Path, flags: list[str], fragments: list[str]
) -> None:
    if "aarch64" in " ".join(flags) and shutil.which("aarch64-linux-gnu-gcc") is None:
        pytest.skip("no aarch64 cross compiler (make setup installs gcc-aarch64-linux-gnu)")
    if "aarch64" in " ".join(flags) and AgentClient(tvm_agent.url, TOKEN).info().device.machine == "aarch64":
        pytest.skip("this host is aarch64: the library would run")
    args = ["search", "--target", "raspi4", "--latency", "compiled", "--compiler", "tvm", *flags]
    args += ["--agent", tvm_agent.url, "--agent-token-file", str(tvm_agent.token_file), "--out", str(tmp_path / "r")]
    result = edgenas(*args, timeout=300)
    assert_one_line_error(result, *fragments)
    assert "trial 0" not in result.stderr  # refused before any candidate


def test_a_compiled_search_on_an_agent_without_tvm_stops_before_training(agent: Agent, tmp_path: Path) -> None:
    pytest.importorskip("tvm")
    args = ["search", "--target", "raspi4", "--latency", "compiled", "--compiler", "tvm", "--budget", "1"]
    args += ["--agent", agent.url, "--agent-token-file", str(agent.token_file), "--out", str(tmp_path / "r")]
    assert_one_line_error(edgenas(*args, timeout=300), "not tvm", "--allow-native-code")


@pytest.mark.parametrize(
    ("target", "device", "ok"),
    [
        ("llvm -mtriple=aarch64-linux-gnu -mcpu=cortex-a72", "aarch64", True),
        ("llvm -mtriple=armv7l-linux-gnueabihf", "armv7l", True),
        ("llvm -mtriple=arm-linux-gnueabihf", "armv7l", True),
        ("llvm -mtriple=aarch64-linux-gnu", "x86_64", False),
        ("llvm -mtriple=x86_64-linux-gnu", "aarch64", False),
    ],
)
def test_a_target_is_checked_against_the_agents_machine_before_building(target: str, device: str, ok: bool) -> None:
    from edgenas.agent.compiled import check_builds_for_agent
    from edgenas.agent.protocol import AgentInfo, DeviceInfo, Limits

    info = AgentInfo({"tvm": "apache-tvm 0.27"}, DeviceInfo("pi", device, "Cortex-A72", 4), Limits(), "0")
    if ok:
        check_builds_for_agent(target, info)
    else:
        with pytest.raises(InvalidInputError, match=f"is {device}"):
            check_builds_for_agent(target, info)
