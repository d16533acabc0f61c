"""Hardware targets: a board, the runtime that executes int8 networks on it, and the
coefficients the analytical cost model prices a network with.

A target is a *(board, runtime)* pair, not a chip: the same Cortex-M4 at 120 MHz runs the MLPerf
Tiny DS-CNN in 48 ms with one engine and in 182 ms with another, so every coefficient belongs to
the runtime named in ``runtime``. Targets are YAML files (built-ins under ``targets/``), validated
with pydantic at the edge and turned into frozen dataclasses, so a loaded target can be hashed,
shared between threads and recorded in a report without copying. Every coefficient in a
built-in file carries its published source in a comment; ``docs/targets.md`` collects them.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgenas._yaml import safe_load
from edgenas.errors import InvalidInputError, UnknownNameError
from edgenas.hardware.energy import EnergyCoefficients
from edgenas.hardware.kernel_latency import KernelInstructions, KernelLatency, make_kernel_latency
from edgenas.ir import Layer, Op
from edgenas.opset import check_name, layer_requirements
from edgenas.registry import Registry

_TARGETS_DIR = Path(__file__).parent / "targets"

#: Kernel libraries whose scratch-buffer formulas the analytical model knows.
KERNEL_LIBRARIES = ("cmsis-nn", "reference")
#: Largest target file read (the built-ins are under 30 KiB); a larger one is refused unread.
MAX_TARGET_BYTES = 1 << 20


# --------------------------------------------------------------------------- frozen records

#: Per-element cycles a target file may give for the MBConv element-wise ops; absent keys take
#: these defaults. All ASSUMED for int8 kernels on a Cortex-M class core (no measurement behind
#: them yet; docs/targets.md): ``mul`` as ``add`` (one multiply + requantisation per element,
#: arm_elementwise_mul_s8); ``sigmoid`` = TFLM int8 LOGISTIC, a fixed-point exp and a divide per
#: element; ``hard_swish`` = TFLM int8 HARD_SWISH, a handful of fixed-point multiplies and a clamp;
#: ``hard_sigmoid`` = ADD + RELU6 + MUL passes; ``swish`` = LOGISTIC + MUL.
OPTIONAL_ELEMENT_CYCLES = {"mul": 6.0, "sigmoid": 40.0, "hard_sigmoid": 12.0, "hard_swish": 15.0, "swish": 46.0}


@dataclass(frozen=True, slots=True)
class LatencyCoefficients:
    """Cycle costs of the runtime's int8 kernels.

    ``cycles = cycles_per_mac[kind] * MACs + cycles_per_output[kind] * output elements
    + cycles_per_element[op] * elements + op_overhead_cycles``. The per-output term is the
    requantisation and loop set-up every output of a conv/FC pays, which is why a pointwise
    conv with few input channels costs more per MAC than one with many.
    """

    conv_pointwise_cycles_per_mac: float
    conv_general_cycles_per_mac: float
    conv_depthwise_cycles_per_mac: float
    fc_cycles_per_mac: float
    conv_cycles_per_output: float
    fc_cycles_per_output: float
    avgpool_cycles_per_element: float
    global_avgpool_cycles_per_element: float
    add_cycles_per_element: float
    reshape_cycles_per_element: float
    softmax_cycles_per_element: float
    op_overhead_cycles: float
    # Element-wise ops of MBConv networks (squeeze-and-excitation, MobileNetV3/EfficientNet
    # activations). Optional in a target file; the defaults are ASSUMED (see OPTIONAL_ELEMENT_CYCLES).
    mul_cycles_per_element: float = OPTIONAL_ELEMENT_CYCLES["mul"]
    sigmoid_cycles_per_element: float = OPTIONAL_ELEMENT_CYCLES["sigmoid"]
    hard_sigmoid_cycles_per_element: float = OPTIONAL_ELEMENT_CYCLES["hard_sigmoid"]
    hard_swish_cycles_per_element: float = OPTIONAL_ELEMENT_CYCLES["hard_swish"]
    swish_cycles_per_element: float = OPTIONAL_ELEMENT_CYCLES["swish"]


@dataclass(frozen=True, slots=True)
class MemoryCoefficients:
    """TFLite Micro arena layout: how activations are planned and what the persistent tail holds.

    The record sizes are those measured on the x86-64 host (see ``docs/deploy.md``); on a
    32-bit MCU pointer-holding records are about half as large, so the tail is an upper bound.
    ``kernel_state_bytes`` is keyed by TFLite builtin name (``"CONV_2D"``...): each kernel's op
    data and builtin parameters; builtins not listed cost ``default_kernel_state_bytes``. The
    ``planning_*`` figures size the temporary memory the planner needs in the head while it plans
    (fixed + per allocation record + per planned buffer): on small networks it exceeds the plan.
    """

    tensor_alignment_bytes: int
    include_scratch: bool
    reshape_aliases_input: bool
    per_channel_quant_bytes: int
    per_channel_ops: frozenset[Op]
    tensor_record_bytes: int
    node_record_bytes: int
    kernel_state_bytes: tuple[tuple[str, int], ...]  # (TFLite builtin, bytes), sorted
    default_kernel_state_bytes: int
    allocator_overhead_bytes: int
    planning_fixed_bytes: int = 0
    planning_record_bytes: int = 0
    planner_buffer_bytes: int = 0


@dataclass(frozen=True, slots=True)
class FlashCoefficients:
    """Size of the int8 ``.tflite`` flatbuffer held in flash.

    Besides the weight and bias data: per weighted operator (its Operator table and the weight,
    bias and output Tensor records, names included), per other operator (layout copies, PAD,
    MEAN...: Operator, output Tensor, constant operand with its data) and per model.
    """

    bias_bytes: int
    quant_param_bytes_per_channel: int
    weighted_op_bytes: int
    other_op_bytes: int
    model_overhead_bytes: int
    # The runtime's code per distinct TFLite builtin the model uses: its kernel library's part (per
    # builtin) and the runtime's own (the kernel's wrapper or reference code, the same for every builtin).
    kernel_code_bytes: tuple[tuple[str, int], ...] = ()
    per_builtin_code_bytes: int = 0


@dataclass(frozen=True, slots=True)
class LatencyAnchor:
    """The measured rows the latency coefficients were checked against (MLPerf Tiny CSV)."""

    benchmark: str
    system_contains: str
    core: str
    clock_mhz: int
    runtime_families: tuple[str, ...]
    ratio_band: tuple[float, float]  # accepted estimate / measured


@dataclass(frozen=True, slots=True)
class AgentEndpoint:
    """The ``edgenas agent serve`` that measures on this board: where it listens, its token, its runtime.

    ``token_file`` is a path (relative ones are resolved against the target file's folder), never
    the token itself: a target file is shared and committed, a token is not.
    """

    url: str
    token_file: str
    runtime: str = "onnxruntime"


@dataclass(frozen=True, slots=True)
class Target:
    """A board plus the runtime whose latency and memory the coefficients describe."""

    name: str
    description: str
    clock_hz: int
    sram_bytes: int
    flash_bytes: int
    runtime: str
    kernels: str
    ops: frozenset[Op]
    latency: LatencyCoefficients
    memory: MemoryCoefficients
    flash: FlashCoefficients
    active_power_mw: float | None = None
    power_source: str | None = None
    anchor: LatencyAnchor | None = None
    latency_source: str = ""
    latency_rows: tuple[str, ...] = ()
    variant: str | None = None
    variants: tuple[str, ...] = ()
    native_ops: frozenset[str] = frozenset()  # canonical operators (edgenas.opset) the runtime runs natively, int8
    native_ops_source: str = ""
    agent: AgentEndpoint | None = None  # the device's measurement agent (searches with --latency measured use it)
    kernel_latency: KernelLatency | None = None  # set: latency priced kernel by kernel over the converted graph
    energy: EnergyCoefficients | None = None  # energy per inference and idle power (edgenas.hardware.energy)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for reports (sets become sorted lists)."""
        out = asdict(self)
        out["ops"] = sorted(op.value for op in self.ops)
        out["native_ops"] = sorted(self.native_ops)
        out["memory"]["per_channel_ops"] = sorted(op.value for op in self.memory.per_channel_ops)
        if self.anchor is not None:
            out["anchor"]["runtime_families"] = list(self.anchor.runtime_families)
            out["anchor"]["ratio_band"] = list(self.anchor.ratio_band)
        return out


# --------------------------------------------------------------------------- YAML schema

_NonNegInt = Field(ge=0)
_NonNegFloat = Field(ge=0.0)


class _Strict(BaseModel):
    # A nan coefficient compares false with every bound, so it would pass ``ge=0`` checks and
    # price every network at nan: non-finite numbers are refused wherever a float is expected.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _KernelCostSchema(_Strict):
    per_unit: float = _NonNegFloat
    per_output: float = Field(default=0.0, ge=0.0)
    per_weight: float = Field(default=0.0, ge=0.0)
    per_call: float = Field(default=0.0, ge=0.0)


class _KernelLatencySchema(_Strict):
    """``latency.kernels``: the runtime priced kernel by kernel (:mod:`edgenas.hardware.kernel_latency`)."""

    cycles_per_instruction: float = Field(gt=0.0)
    invoke_overhead_instructions: float = _NonNegFloat
    instructions_source: str = Field(min_length=1)  # where the instruction counts come from
    instructions: dict[str, _KernelCostSchema]

    def model(self) -> KernelLatency:
        table = {k: KernelInstructions(v.per_unit, v.per_call, v.per_output, v.per_weight) for k, v in self.instructions.items()}
        return make_kernel_latency(self.cycles_per_instruction, self.invoke_overhead_instructions, table)


class _LatencySchema(_Strict):
    source: str = Field(min_length=1)  # where the coefficients come from: a target file without one is rejected
    rows: list[str] = Field(default_factory=list)  # MLPerf Tiny rows (source_path) the coefficients were fitted to
    fit: dict[str, Any] | None = None  # the fit's settings and errors, recorded beside the coefficients
    # either the per-MAC-kind coefficients below, or a `kernels` block (which then prices every operator)
    cycles_per_mac: dict[str, float] | None = None
    conv_cycles_per_output: float = Field(default=0.0, ge=0.0)
    fc_cycles_per_output: float = Field(default=0.0, ge=0.0)
    cycles_per_element: dict[str, float] | None = None
    op_overhead_cycles: float = Field(default=0.0, ge=0.0)
    kernels: _KernelLatencySchema | None = None


class _MemorySchema(_Strict):
    tensor_alignment_bytes: int = Field(ge=1)
    include_scratch: bool = True
    reshape_aliases_input: bool = False
    per_channel_quant_bytes: int = _NonNegInt
    per_channel_ops: list[Op]
    tensor_record_bytes: int = _NonNegInt
    node_record_bytes: int = _NonNegInt
    kernel_state_bytes: dict[str, Annotated[int, Field(ge=0)]] | None = None
    default_kernel_state_bytes: int | None = Field(default=None, ge=0)
    # older target files: one figure for weighted ops, one for the rest (mapped onto the two above)
    weighted_kernel_state_bytes: int | None = Field(default=None, ge=0)
    other_kernel_state_bytes: int | None = Field(default=None, ge=0)
    allocator_overhead_bytes: int = _NonNegInt
    planning_fixed_bytes: int = _NonNegInt
    planning_record_bytes: int = _NonNegInt
    planner_buffer_bytes: int = _NonNegInt

    def kernel_state(self) -> tuple[tuple[str, int], ...]:
        if self.kernel_state_bytes is not None:
            return tuple(sorted(self.kernel_state_bytes.items()))
        weighted = self.weighted_kernel_state_bytes or 0
        return tuple((builtin, weighted) for builtin in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"))

    def default_kernel_state(self) -> int:
        if self.default_kernel_state_bytes is not None:
            return self.default_kernel_state_bytes
        return self.other_kernel_state_bytes or 0


class _FlashSchema(_Strict):
    bias_bytes: int = _NonNegInt
    quant_param_bytes_per_channel: int = _NonNegInt
    weighted_op_bytes: int | None = Field(default=None, ge=0)
    other_op_bytes: int | None = Field(default=None, ge=0)
    # older target files: per tensor and per op (mapped: a weighted op has 3 tensors, another op 2)
    tensor_overhead_bytes: int | None = Field(default=None, ge=0)
    op_overhead_bytes: int | None = Field(default=None, ge=0)
    model_overhead_bytes: int = _NonNegInt
    kernel_code_bytes: dict[str, Annotated[int, Field(ge=0)]] | None = None  # per builtin: its kernel library's code
    per_builtin_code_bytes: int = Field(default=0, ge=0)  # the runtime's own code per distinct builtin
    code_source: str | None = Field(default=None, min_length=1)  # required with either of the two above

    def coefficients(self) -> FlashCoefficients:
        tensor, op = self.tensor_overhead_bytes or 0, self.op_overhead_bytes or 0
        return FlashCoefficients(
            bias_bytes=self.bias_bytes,
            quant_param_bytes_per_channel=self.quant_param_bytes_per_channel,
            weighted_op_bytes=self.weighted_op_bytes if self.weighted_op_bytes is not None else op + 3 * tensor,
            other_op_bytes=self.other_op_bytes if self.other_op_bytes is not None else op + 2 * tensor,
            model_overhead_bytes=self.model_overhead_bytes,
            kernel_code_bytes=tuple(sorted((self.kernel_code_bytes or {}).items())),
            per_builtin_code_bytes=self.per_builtin_code_bytes,
        )


class _PowerSchema(_Strict):
    active_power_mw: float = Field(gt=0.0)
    source: str = Field(min_length=1)


class _EnergyCoefficientSchema(_Strict):
    value: float = Field(gt=0.0)
    source: str = Field(min_length=1)  # a fit (and its error), a publication, a datasheet, or "ASSUMED" and why


#: The coefficients of an ``energy:`` block, in the order of :class:`~edgenas.hardware.energy.EnergyCoefficients`.
ENERGY_COEFFICIENTS = ("int8_mac_pj", "float_mac_pj", "sram_byte_pj", "flash_byte_pj", "static_mw", "idle_mw")


class _EnergySchema(_Strict):
    """``energy:``: every coefficient a positive number with its source (docs/targets.md, "Energy and power")."""

    int8_mac_pj: _EnergyCoefficientSchema
    float_mac_pj: _EnergyCoefficientSchema
    sram_byte_pj: _EnergyCoefficientSchema
    flash_byte_pj: _EnergyCoefficientSchema
    static_mw: _EnergyCoefficientSchema
    idle_mw: _EnergyCoefficientSchema
    float_runtime: bool = False  # the runtime computes in float32 whatever the layers' dtype
    weights_from: Literal["flash", "dram"] = "flash"
    fit: dict[str, Any] | None = None  # where a coefficient was fitted: the rows and the errors

    def model(self) -> EnergyCoefficients:
        return EnergyCoefficients(
            int8_mac_pj=self.int8_mac_pj.value,
            float_mac_pj=self.float_mac_pj.value,
            sram_byte_pj=self.sram_byte_pj.value,
            flash_byte_pj=self.flash_byte_pj.value,
            static_mw=self.static_mw.value,
            idle_mw=self.idle_mw.value,
            sources=tuple((name, getattr(self, name).source) for name in ENERGY_COEFFICIENTS),
            float_runtime=self.float_runtime,
            flash_is=self.weights_from,
        )


class _NativeOpsSchema(_Strict):
    source: str = Field(min_length=1)  # where the list comes from: kernel sources, a compiler's operator list
    ops: dict[str, str] = Field(min_length=1)  # canonical operator -> the kernel that runs it (its citation)


class _AnchorSchema(_Strict):
    benchmark: str
    system_contains: str
    core: str
    clock_mhz: int = Field(gt=0)
    runtime_families: list[str] = Field(min_length=1)
    ratio_band: tuple[float, float]


class _AgentSchema(_Strict):
    url: str = Field(pattern=r"^https?://[^\s]+$", max_length=2048)
    token_file: str = Field(min_length=1, max_length=4096)
    runtime: str = "onnxruntime"


class _VariantSchema(_Strict):
    runtime: str = Field(min_length=1)
    latency: _LatencySchema


class _TargetSchema(_Strict):
    name: str = Field(min_length=1)
    description: str
    clock_hz: int = Field(gt=0)
    sram_bytes: int = Field(gt=0)
    flash_bytes: int = Field(gt=0)
    runtime: str = Field(min_length=1)
    kernels: str
    ops: list[Op] = Field(min_length=1)
    latency: _LatencySchema
    memory: _MemorySchema
    flash: _FlashSchema
    power: _PowerSchema | None = None
    energy: _EnergySchema | None = None  # energy per inference and idle power, every coefficient sourced
    anchor: _AnchorSchema | None = None
    variants: dict[str, _VariantSchema] = Field(default_factory=dict)
    missing_variants: dict[str, str] = Field(default_factory=dict)  # runtime -> why there is no calibrated variant
    native_ops: _NativeOpsSchema | None = None  # operators the runtime executes natively (the operator audit)
    agent: _AgentSchema | None = None  # the board's measurement agent (docs/agent.md)


_MAC_KINDS = ("conv_pointwise", "conv_general", "conv_depthwise", "fc")
_ELEMENT_KINDS = ("avgpool2d", "global_avgpool", "add", "reshape", "softmax")


def _exact_keys(mapping: dict[str, float], expected: tuple[str, ...], where: str, optional: tuple[str, ...] = ()) -> None:
    missing = [k for k in expected if k not in mapping]
    extra = [k for k in mapping if k not in expected and k not in optional]
    if missing or extra:
        raise ValueError(f"{where}: missing {missing or 'none'}, unexpected {extra or 'none'}; expected exactly {list(expected)}")
    negative = [k for k, v in mapping.items() if v < 0]
    if negative:
        raise ValueError(f"{where}.{negative[0]}: must be >= 0")


def _kernel_latency(lat: _LatencySchema, where: str) -> KernelLatency | None:
    if lat.kernels is None:
        return None
    try:
        return lat.kernels.model()
    except ValueError as exc:
        raise ValueError(f"{where}.kernels.{exc}") from None


def _per_kind_from_kernels(model: KernelLatency) -> LatencyCoefficients:
    """Per-MAC-kind coefficients implied by a kernel table, for code that reads the coarse form."""
    cpi, table = model.cycles_per_instruction, model.table()
    overhead = model.invoke_overhead_instructions * cpi

    def unit(key: str) -> float:
        return table[key].per_unit * cpi

    return LatencyCoefficients(
        conv_pointwise_cycles_per_mac=unit("conv_1x1"),
        conv_general_cycles_per_mac=unit("conv_s8"),
        conv_depthwise_cycles_per_mac=unit("depthwise_opt"),
        fc_cycles_per_mac=unit("fully_connected"),
        conv_cycles_per_output=0.0,
        fc_cycles_per_output=0.0,
        avgpool_cycles_per_element=unit("avgpool"),
        global_avgpool_cycles_per_element=unit("avgpool"),
        add_cycles_per_element=unit("add"),
        reshape_cycles_per_element=unit("reshape"),
        softmax_cycles_per_element=unit("softmax"),
        op_overhead_cycles=overhead,
        mul_cycles_per_element=unit("mul"),
        sigmoid_cycles_per_element=unit("logistic"),
        hard_sigmoid_cycles_per_element=unit("add") + unit("relu6") + unit("mul"),
        hard_swish_cycles_per_element=unit("hard_swish"),
        swish_cycles_per_element=unit("logistic") + unit("mul"),
    )


def _latency(lat: _LatencySchema, where: str) -> LatencyCoefficients:
    kernels = _kernel_latency(lat, where)
    if lat.cycles_per_mac is None or lat.cycles_per_element is None:
        if kernels is None:
            raise ValueError(f"{where}: give either cycles_per_mac and cycles_per_element, or a kernels block")
        if lat.cycles_per_mac is not None or lat.cycles_per_element is not None:
            raise ValueError(f"{where}: give both cycles_per_mac and cycles_per_element, or neither (with a kernels block)")
        return _per_kind_from_kernels(kernels)
    unset = [k for k in ("conv_cycles_per_output", "fc_cycles_per_output", "op_overhead_cycles") if k not in lat.model_fields_set]
    if unset:
        raise ValueError(f"{where}.{unset[0]}: Field required (with cycles_per_mac)")
    _exact_keys(lat.cycles_per_mac, _MAC_KINDS, f"{where}.cycles_per_mac")
    _exact_keys(lat.cycles_per_element, _ELEMENT_KINDS, f"{where}.cycles_per_element", tuple(OPTIONAL_ELEMENT_CYCLES))
    element = {**OPTIONAL_ELEMENT_CYCLES, **lat.cycles_per_element}
    return LatencyCoefficients(
        conv_pointwise_cycles_per_mac=lat.cycles_per_mac["conv_pointwise"],
        conv_general_cycles_per_mac=lat.cycles_per_mac["conv_general"],
        conv_depthwise_cycles_per_mac=lat.cycles_per_mac["conv_depthwise"],
        fc_cycles_per_mac=lat.cycles_per_mac["fc"],
        conv_cycles_per_output=lat.conv_cycles_per_output,
        fc_cycles_per_output=lat.fc_cycles_per_output,
        avgpool_cycles_per_element=lat.cycles_per_element["avgpool2d"],
        global_avgpool_cycles_per_element=lat.cycles_per_element["global_avgpool"],
        add_cycles_per_element=lat.cycles_per_element["add"],
        reshape_cycles_per_element=lat.cycles_per_element["reshape"],
        softmax_cycles_per_element=lat.cycles_per_element["softmax"],
        op_overhead_cycles=lat.op_overhead_cycles,
        mul_cycles_per_element=element["mul"],
        sigmoid_cycles_per_element=element["sigmoid"],
        hard_sigmoid_cycles_per_element=element["hard_sigmoid"],
        hard_swish_cycles_per_element=element["hard_swish"],
        swish_cycles_per_element=element["swish"],
    )


def _build(schema: _TargetSchema, variant: str | None = None) -> Target:
    latency = _latency(schema.latency, "latency")
    for name, block in schema.variants.items():
        _latency(block.latency, f"variants.{name}.latency")  # every variant is validated, not just the one asked for
    if schema.kernels not in KERNEL_LIBRARIES:
        raise ValueError(f"kernels: {schema.kernels!r} is not one of {list(KERNEL_LIBRARIES)}")
    name, runtime, lat_block = schema.name, schema.runtime, schema.latency
    if variant is not None:
        if variant not in schema.variants:
            raise UnknownNameError(_unknown_variant(schema, variant))
        chosen = schema.variants[variant]
        name, runtime, lat_block = f"{schema.name}:{variant}", chosen.runtime, chosen.latency
        latency = _latency(lat_block, f"variants.{variant}.latency")
    if (schema.flash.kernel_code_bytes or schema.flash.per_builtin_code_bytes) and not schema.flash.code_source:
        raise ValueError("flash.code_source: say where the kernel code sizes come from (kernel_code_bytes needs it)")
    mem = schema.memory
    memory = MemoryCoefficients(
        tensor_alignment_bytes=mem.tensor_alignment_bytes,
        include_scratch=mem.include_scratch,
        reshape_aliases_input=mem.reshape_aliases_input,
        per_channel_quant_bytes=mem.per_channel_quant_bytes,
        per_channel_ops=frozenset(mem.per_channel_ops),
        tensor_record_bytes=mem.tensor_record_bytes,
        node_record_bytes=mem.node_record_bytes,
        kernel_state_bytes=mem.kernel_state(),
        default_kernel_state_bytes=mem.default_kernel_state(),
        allocator_overhead_bytes=mem.allocator_overhead_bytes,
        planning_fixed_bytes=mem.planning_fixed_bytes,
        planning_record_bytes=mem.planning_record_bytes,
        planner_buffer_bytes=mem.planner_buffer_bytes,
    )
    anchor = None
    if schema.anchor is not None:
        a = schema.anchor
        lo, hi = a.ratio_band
        if not 0 < lo <= 1 <= hi:
            raise ValueError("anchor.ratio_band: must be [lo, hi] with 0 < lo <= 1 <= hi")
        anchor = LatencyAnchor(
            benchmark=a.benchmark,
            system_contains=a.system_contains,
            core=a.core,
            clock_mhz=a.clock_mhz,
            runtime_families=tuple(a.runtime_families),
            ratio_band=(lo, hi),
        )
    return Target(
        name=name,
        description=schema.description,
        clock_hz=schema.clock_hz,
        sram_bytes=schema.sram_bytes,
        flash_bytes=schema.flash_bytes,
        runtime=runtime,
        kernels=schema.kernels,
        ops=frozenset(schema.ops),
        latency=latency,
        memory=memory,
        flash=schema.flash.coefficients(),
        active_power_mw=schema.power.active_power_mw if schema.power else None,
        power_source=schema.power.source if schema.power else None,
        anchor=anchor,
        latency_source=lat_block.source,
        latency_rows=tuple(lat_block.rows),
        variant=variant,
        variants=tuple(sorted(schema.variants)),
        kernel_latency=_kernel_latency(lat_block, "latency" if variant is None else f"variants.{variant}.latency"),
        energy=schema.energy.model() if schema.energy is not None else None,
        **_native_ops(schema),
    )


def _native_ops(schema: _TargetSchema) -> dict[str, Any]:
    """The ``native_ops`` block, validated; without one, what the IR ``ops`` list implies."""
    if schema.native_ops is None:
        implied = {req for op in schema.ops for req in layer_requirements(Layer(op, (1,), (1,)))} | {"relu", "relu6"}
        return {"native_ops": frozenset(implied), "native_ops_source": "implied by `ops` (the file has no native_ops block)"}
    names = []
    for name in schema.native_ops.ops:
        try:
            names.append(check_name(name))
        except ValueError as exc:
            raise ValueError(f"native_ops.ops: {exc}") from None
    for op in schema.ops:  # an op the cost model prices here must be one the runtime runs
        lacking = sorted(set(layer_requirements(Layer(op, (1,), (1,)))) - set(names))
        if lacking:
            raise ValueError(f"ops: {op.value} needs {', '.join(lacking)}, which native_ops.ops does not list")
    return {"native_ops": frozenset(names), "native_ops_source": schema.native_ops.source}


def _unknown_variant(schema: _TargetSchema, variant: str) -> str:
    known = sorted(schema.variants)
    if variant in schema.missing_variants:
        why = f"target {schema.name!r} has no runtime variant {variant!r}: {schema.missing_variants[variant]}."
    else:
        close = difflib.get_close_matches(variant, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        why = f"unknown runtime variant {variant!r} of target {schema.name!r}.{hint}"
    default = f"'{schema.name}' (default runtime)"
    return f"{why} Available: {', '.join([default] + [repr(f'{schema.name}:{k}') for k in known])}."


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    field = ".".join(str(part) for part in err["loc"]) or "(top level)"
    return f"{field}: {err['msg']}"


def _load_file(path: Path, variant: str | None = None) -> Target:
    return _parse(path, _read_yaml(path), variant)


def _read_yaml(path: Path) -> Any:
    """The plain data of a target file: size bounded, UTF-8, no aliases (``edgenas._yaml``)."""
    try:
        size = path.stat().st_size
        if size > MAX_TARGET_BYTES:
            raise InvalidInputError(
                f"target file {path} is {size:,} bytes, larger than the {MAX_TARGET_BYTES:,} a target file may be"
            )
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"target file {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8 YAML (docs/targets.md)"
        ) from None
    except OSError as exc:
        raise InvalidInputError(f"cannot read target file {path}: {exc.strerror or exc}") from None
    try:
        return safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        if isinstance(exc, yaml.composer.ComposerError) and exc.problem:  # an alias, or nesting too deep
            raise InvalidInputError(f"target file {path}{where}: {exc.problem}") from None
        raise InvalidInputError(f"target file {path}: malformed YAML{where}") from None


def _agent(schema: _AgentSchema | None, folder: Path) -> AgentEndpoint | None:
    """The target's agent, its token file resolved against the target file's folder."""
    if schema is None:
        return None
    from edgenas.agent.protocol import MODEL_RUNTIMES

    if schema.runtime not in MODEL_RUNTIMES:
        raise ValueError(f"agent.runtime: {schema.runtime!r} is not one of {list(MODEL_RUNTIMES)}")
    token_file = Path(schema.token_file).expanduser()
    return AgentEndpoint(schema.url, str(token_file if token_file.is_absolute() else folder / token_file), schema.runtime)


def _parse(path: Path, data: Any, variant: str | None) -> Target:
    if not isinstance(data, dict):
        raise InvalidInputError(f"target file {path}: expected a mapping of fields at top level")
    try:
        schema = _TargetSchema.model_validate(data)
        return replace(_build(schema, variant), agent=_agent(schema.agent, path.parent))
    except UnknownNameError:
        raise
    except ValidationError as exc:
        raise InvalidInputError(f"target file {path}: field {_first_error(exc)}") from None
    except ValueError as exc:
        raise InvalidInputError(f"target file {path}: field {exc}") from None


def builtin_targets() -> list[str]:
    """Names of the targets shipped with edgenas (``targets/<name>.yaml``)."""
    return sorted(p.stem for p in _TARGETS_DIR.glob("*.yaml"))


def _shipped(path: Path) -> Callable[[], Path]:
    def source() -> Path:
        return path

    return source


#: Target names -> a factory giving the target's YAML file (or a ``Target``). Built-ins are the
#: shipped files; a board vendor's package adds its own through the ``edgenas.targets`` entry
#: points (the loaded object is called with no argument and returns a YAML path or a ``Target``).
TARGETS: Registry[Path | Target] = Registry("target", entry_points="edgenas.targets")
for _path in sorted(_TARGETS_DIR.glob("*.yaml")):
    TARGETS.add(_path.stem, _shipped(_path), help=f"shipped: targets/{_path.name}")


def target_names() -> list[str]:
    """Every target a name can select: the shipped ones and those of installed plug-ins."""
    return TARGETS.names()


def _is_file(path: Path) -> bool:
    """``path.is_file()``, False for a name the file system cannot even look up (too long, say)."""
    try:
        return path.is_file()
    except OSError:
        return False


def load_target(name_or_path: str | Path) -> Target:
    """Load a built-in target by name (``"cortex-m7"``) or a target YAML file by path.

    ``"cortex-m7:x-cube-ai"`` (or ``"board.yaml:x-cube-ai"``) selects a runtime variant: the same
    board with the latency block of another runtime, fitted to that runtime's measured rows (see
    ``Target.variants``); memory and flash stay those of the base file. A string that names an
    existing file or ends in ``.yaml``/``.yml`` is read as a path; anything else must be a
    built-in name.
    """
    text = str(name_or_path)
    variant: str | None = None
    if not isinstance(name_or_path, Path) and not _is_file(Path(text)) and ":" in text:
        text, variant = text.rsplit(":", 1)
        if not variant:
            raise InvalidInputError(f"target {str(name_or_path)!r}: empty runtime variant after ':'")
    path = Path(text)
    if isinstance(name_or_path, Path) or path.suffix in (".yaml", ".yml") or _is_file(path):
        if not _is_file(path):
            raise InvalidInputError(f"target file {path} does not exist")
        return _load_file(path, variant)
    names = target_names()
    if text not in names:
        close = difflib.get_close_matches(text, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownNameError(
            f"unknown target {text!r}.{hint} Built-in targets: {', '.join(names)}; or pass the path of a target YAML file."
        )
    source = TARGETS.create(text)
    if isinstance(source, Target):
        if variant is not None:
            raise InvalidInputError(f"target {text!r} (a plug-in's) has no runtime variants; drop ':{variant}'")
        return source
    return _load_file(Path(source), variant)
