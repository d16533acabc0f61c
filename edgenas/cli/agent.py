"""``edgenas agent``: the measurement agent on a device (``serve``) and its client (``info``, ``measure``).

``serve`` runs on the device; ``info`` and ``measure`` run anywhere that can reach it. Both ends
read the shared token from a file that only its owner can read (``chmod 600``); a token on the
command line would be visible to every user of the machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from edgenas.cli.console import json_option, print_json, say, stdout_console

GROUP_HELP = "Measure models on a device: run the agent there (serve), ask it from here (info, measure)."

TokenFile = Annotated[Path, typer.Option("--token-file", help="File holding the shared token (chmod 600).")]


def serve(
    token_file: TokenFile,
    host: Annotated[
        str, typer.Option(help="Address to listen on (loopback by default; 0.0.0.0 for every interface).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8765,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="TLS certificate (PEM); with --tls-key, serve HTTPS.")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="TLS private key (PEM).")] = None,
    runtimes: Annotated[
        str,
        typer.Option(
            help="Runtimes to offer, comma-separated: onnxruntime, litert, litert-no-xnnpack (default: every one installed), "
            "tvm (compiled libraries: needs --allow-native-code)."
        ),
    ] = "",
    allow_native_code: Annotated[
        bool,
        typer.Option(
            "--allow-native-code",
            help="Accept compiled .so libraries (--runtimes tvm): machine code that runs with this agent's rights, "
            "in a child process; anyone with the token can then run code on this device.",
        ),
    ] = False,
    max_upload_mb: Annotated[int, typer.Option("--max-upload-mb", help="Largest model file accepted, in MiB.")] = 64,
    rate_limit: Annotated[int, typer.Option("--rate-limit", help="Requests per minute per client address (0: no limit).")] = 600,
    max_repeats: Annotated[int, typer.Option("--max-repeats", help="Most timed runs one request may ask for.")] = 10_000,
) -> None:
    """Run the measurement agent on this device until Ctrl-C."""
    from edgenas.agent.auth import MIN_SERVER_TOKEN_CHARS, is_loopback, read_token_file
    from edgenas.agent.protocol import Limits
    from edgenas.agent.server import AgentSettings, available_runtimes, serve
    from edgenas.cli.console import State
    from edgenas.errors import InvalidInputError

    if not 1 <= max_upload_mb <= 4096:
        raise InvalidInputError(f"--max-upload-mb must be between 1 and 4096, got {max_upload_mb}")
    if rate_limit < 0:
        raise InvalidInputError(f"--rate-limit must be 0 (no limit) or more, got {rate_limit}")
    if not 1 <= max_repeats <= 1_000_000:
        raise InvalidInputError(f"--max-repeats must be between 1 and 1,000,000, got {max_repeats}")
    if not 0 <= port <= 65535:
        raise InvalidInputError(f"--port must be between 0 and 65535, got {port}")
    token = read_token_file(token_file, min_chars=MIN_SERVER_TOKEN_CHARS)
    wanted = tuple(r.strip() for r in runtimes.split(",") if r.strip())
    if allow_native_code and not any(r == "tvm" for r in wanted):
        raise InvalidInputError("--allow-native-code goes with --runtimes naming tvm (the runtime that runs compiled libraries)")
    offered = available_runtimes(wanted, allow_native_code=allow_native_code)
    limits = Limits(
        max_upload_bytes=max_upload_mb * 2**20, max_repeats=max_repeats, max_warmup=max_repeats, rate_limit_per_minute=rate_limit
    )
    scheme = "https" if tls_cert else "http"
    if not tls_cert and not is_loopback(host):
        say(f"warning: {host} is reachable from other machines and the token travels in clear text; add --tls-cert/--tls-key")
    say(f"edgenas agent on {scheme}://{host}:{port} offering {', '.join(offered.values())}; Ctrl-C stops it")
    if "tvm" in offered:
        say("warning: --allow-native-code: clients holding the token can run machine code on this device (in a child process)")
    serve(
        AgentSettings(token=token, runtimes=tuple(offered), limits=limits, allow_native_code=allow_native_code),
        host,
        port,
        tls_cert=tls_cert,
        tls_key=tls_key,
        log_level="info" if State.debug else "warning",
    )


def info(
    url: Annotated[str, typer.Argument(help="The agent: http://HOST:PORT or https://HOST:PORT.")],
    token_file: TokenFile,
    as_json: Annotated[bool, json_option()] = False,
) -> None:
    """What an agent's device offers: runtimes and versions, CPU, limits."""
    from edgenas.agent.auth import read_token_file
    from edgenas.agent.client import AgentClient

    answer = AgentClient(url, read_token_file(token_file)).info()
    if as_json:
        print_json(answer.to_dict())
        return
    d = answer.device
    table = Table(title=f"agent at {url}: {d.hostname}", show_header=False)
    table.add_column("what")
    table.add_column("value")
    for name, version in answer.runtimes.items():
        table.add_row(f"runtime {name}", version)
    table.add_row("CPU", f"{d.cpu_model} ({d.cpu_count} cores, {d.machine})")
    table.add_row("system", d.system)
    table.add_row("frequency", _freq(d.cpu_freq_mhz))
    table.add_row("temperature", f"{d.temperature_c:.1f} °C" if d.temperature_c is not None else "not exposed")
    table.add_row("largest upload", f"{answer.limits.max_upload_bytes / 2**20:g} MiB")
    table.add_row("most repeats", f"{answer.limits.max_repeats:,}")
    table.add_row("rate limit", f"{answer.limits.rate_limit_per_minute}/min" if answer.limits.rate_limit_per_minute else "none")
    table.add_row("edgenas", answer.edgenas_version)
    stdout_console().print(table)


def measure(
    url: Annotated[str, typer.Argument(help="The agent: http://HOST:PORT or https://HOST:PORT.")],
    model: Annotated[Path, typer.Argument(help="Model file: .onnx, .tflite, or a .so library edgenas compile built.")],
    token_file: TokenFile,
    runtime: Annotated[
        str | None, typer.Option(help="onnxruntime, litert, litert-no-xnnpack or tvm (default: from the file suffix).")
    ] = None,
    inputs: Annotated[
        Path | None,
        typer.Option(help="A .so library's inputs (JSON; default: the inputs.json edgenas compile wrote beside it)."),
    ] = None,
    threads: Annotated[int, typer.Option(help="Intra-op threads the runtime may use.")] = 1,
    warmup: Annotated[int, typer.Option(help="Untimed runs before timing.")] = 10,
    repeats: Annotated[int, typer.Option(help="Timed runs.")] = 50,
    top: Annotated[int, typer.Option(help="Bottleneck operators to list.")] = 5,
    as_json: Annotated[bool, json_option()] = False,
) -> None:
    """Measure a model on the agent's device: median and spread, the slowest operators, the device."""
    from edgenas.agent.auth import read_token_file
    from edgenas.agent.client import AgentClient, read_inputs
    from edgenas.errors import InvalidInputError
    from edgenas.measure.base import check_top

    check_top(top)
    if inputs is not None and model.suffix.lower() != ".so":
        raise InvalidInputError(f"--inputs describes a compiled library's inputs; {model} declares its own")
    specs = read_inputs(inputs) if inputs is not None else None
    result = AgentClient(url, read_token_file(token_file)).measure(
        model, runtime=runtime, threads=threads, warmup=warmup, repeats=repeats, inputs=specs
    )
    if as_json:
        print_json(result.to_dict())
        return
    d = result.device
    lat = result.summary()
    temp = f", {d.temperature_c:.1f} °C" if d.temperature_c is not None else ""
    table = Table(
        title=f"{model}: {result.runtime_version}, {result.threads} thread(s), "
        f"{result.repeats} runs after {result.warmup} warm-up",
        caption=f"measured on {d.hostname} ({d.cpu_model}, {d.cpu_count} cores, {_freq(d.cpu_freq_mhz)}{temp})"
        + (f"; peak RSS {result.peak_rss_mb:.1f} MiB" if result.peak_rss_mb is not None else ""),
    )
    for column in ("median ms", "IQR ms", "min ms", "max ms", "mean ms"):
        table.add_column(column, justify="right")
    table.add_row(*(f"{lat[k]:.4f}" for k in ("median", "iqr", "min", "max", "mean")))
    console = stdout_console()
    console.print(table)
    timed = [(op, share) for op, share in result.as_measurement().bottlenecks(top) if op.ms_per_run > 0]
    if not timed:
        console.print(f"per-operator breakdown: none ({result.ops_note or 'not given by the runtime'})", highlight=False)
        return
    ops = Table(title="bottleneck operators (the runtime's profiler on the device)")
    for column in ("operator", "type", "ms per run", "share"):
        ops.add_column(column, justify="left" if column in ("operator", "type") else "right")
    for op, share in timed:
        ops.add_row(op.name, op.op_type, f"{op.ms_per_run:.4f}", f"{100 * share:.1f}%")
    console.print(ops)


def _freq(freqs: tuple[float, ...]) -> str:
    if not freqs:
        return "frequency not exposed"
    lo, hi = min(freqs), max(freqs)
    return f"{lo:.0f} MHz" if lo == hi else f"{lo:.0f}-{hi:.0f} MHz"


def register(app: typer.Typer) -> None:
    """Add the ``agent`` group to the ``edgenas`` app."""
    group = typer.Typer(no_args_is_help=False, help=GROUP_HELP)
    group.command()(serve)
    group.command()(info)
    group.command()(measure)
    app.add_typer(group, name="agent")
