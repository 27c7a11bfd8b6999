"""What a run computes on: the device, where its memory figure comes from, the precision.

A GPU is found through NVML (`nvidia-ml-py`, the `[gpu]` extra) before TensorFlow touches
it, or through TensorFlow when NVML is absent. TensorFlow is then kept from mapping the
whole card (memory growth), and `--device cpu` hides the GPUs from it. All of this must
happen before TensorFlow's first operation; afterwards (a notebook that already ran
something) the settings TensorFlow has are kept and one line says so.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional, Tuple

import tensorflow as tf
from absl import logging

from tf_style import machine_memory
from tf_style.errors import TransferError

# GPUs from this compute capability on (Ampere, Ada, Hopper) compute bfloat16 natively,
# and run float32 convolutions and matrix products in TF32 unless told otherwise.
BFLOAT16_COMPUTE_CAPABILITY = (8, 0)
# CPU flags (/proc/cpuinfo) of native bfloat16 arithmetic: AVX512_BF16 (AMD Zen 4+, Intel
# Cooper Lake+) and AMX (Intel Sapphire Rapids+), which oneDNN uses for bfloat16 convolutions.
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
# Where --precision auto picks bfloat16 on a CPU, as measured on this project's machines
# (docs/precision.md): AMX, or AVX512_BF16 on AMD (a 512x384 step 1.82x faster than float32
# on a 2-core EPYC). An Intel Xeon with AVX512_BF16 but no AMX ran oneDNN's bfloat16
# convolutions (brg_conv avx512_core_bf16) 1.4x *slower* than float32 (1.86-2.07 s against
# 1.28-1.46 s a 512x384 forward and backward pass, alternated), so it stays in float32.
FAST_BFLOAT16_CPU_FLAGS = ("amx_bf16",)
FAST_BFLOAT16_CPU_VENDORS = {"avx512_bf16": ("AuthenticAMD",)}


class DeviceError(TransferError):
    """A device or precision this machine cannot give."""


@dataclasses.dataclass(frozen=True)
class GpuMemory:
    """The free memory of the GPU TensorFlow calls GPU:0 (model `name`), read when asked:
    through NVML, or through TensorFlow's allocator when nvidia-ml-py is absent (that
    starts TensorFlow's GPU runtime, so `configure` must have run first)."""

    name: str

    def available(self) -> Tuple[float, str]:
        margin = machine_memory.DEFAULT_MARGIN
        free, reader = _nvml_free_bytes(self.name), "NVML"
        if free is None:
            free, reader = _tensorflow_free_bytes(), "TensorFlow"
        return free * (1 - margin), f"free GPU memory ({reader}) less {margin:.0%}"


@dataclasses.dataclass(frozen=True)
class Device:
    """Where the network runs. `memory` is the source of the plan's limit there; `host` the
    machine's own memory (on a GPU, a tiled run keeps the image-sized state there)."""

    kind: str  # "cpu" or "gpu"
    name: str
    memory: machine_memory.MemorySource
    native_bfloat16: bool
    compute_capability: Optional[Tuple[int, int]] = None
    host: machine_memory.MemorySource = machine_memory.HostMemory()
    fast_bfloat16: Optional[bool] = None  # None: as native_bfloat16

    @property
    def prefers_bfloat16(self) -> bool:
        """Whether --precision auto computes in bfloat16 here: where it is native and faster."""
        return self.native_bfloat16 if self.fast_bfloat16 is None else self.fast_bfloat16

    @property
    def tensorflow_name(self) -> str:
        return "/GPU:0" if self.kind == "gpu" else "/CPU:0"

    def describe(self) -> str:
        if self.kind == "gpu":
            capability = ".".join(map(str, self.compute_capability or ()))
            return f"GPU {self.name} (compute capability {capability or 'unknown'})"
        return f"CPU {self.name}"


def cpu_device() -> Device:
    """This machine's processor, whether it computes bfloat16 natively, and whether that is
    faster than float32 there."""
    flags, model, vendor = _cpu_flags_model_and_vendor()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    native = [flag.upper() for flag in BFLOAT16_CPU_FLAGS if flag in flags]
    fast = any(flag in flags for flag in FAST_BFLOAT16_CPU_FLAGS) or any(
        flag in flags and vendor in vendors for flag, vendors in FAST_BFLOAT16_CPU_VENDORS.items())
    return Device("cpu", f"{model} ({cores} cores{''.join(', ' + flag for flag in native)})",
                  machine_memory.HostMemory(), bool(native), fast_bfloat16=fast)


def _cpu_flags_model_and_vendor() -> Tuple[set, str, str]:
    flags, model, vendor = set(), "unknown processor", ""
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "flags" and not flags:
                    flags = set(value.split())
                elif key == "model name" and model == "unknown processor":
                    model = value.strip()
                elif key == "vendor_id" and not vendor:
                    vendor = value.strip()
    except OSError:
        pass
    return flags, model, vendor


def find_device(requested: str) -> Device:
    """The device for `--device` (auto, cpu or gpu); DeviceError when gpu finds none."""
    if requested not in ("auto", "cpu", "gpu"):
        raise ValueError(f"`device` must be auto, cpu or gpu. Received: device={requested!r}")
    gpus = tf.config.list_physical_devices("GPU") if requested != "cpu" else []
    if not gpus:
        if requested == "gpu":
            raise DeviceError(
                "--device gpu: TensorFlow sees no GPU (no NVIDIA driver, or a TensorFlow built "
                "without CUDA: pip install 'tensorflow[and-cuda]'); use --device cpu or auto")
        return cpu_device()
    details = tf.config.experimental.get_device_details(gpus[0])
    name = details.get("device_name", "GPU")
    capability = details.get("compute_capability")
    capability = tuple(capability) if capability is not None else None
    native = capability is not None and capability >= BFLOAT16_COMPUTE_CAPABILITY
    return Device("gpu", name, GpuMemory(name), native, capability)


def _nvml_free_bytes(name: str) -> Optional[float]:
    """The GPU's free memory through NVML, or None without nvidia-ml-py or a driver."""
    try:
        import pynvml  # noqa: PLC0415 - the [gpu] extra
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return None
    try:
        handle = _nvml_handle(pynvml, name)
        return None if handle is None else float(pynvml.nvmlDeviceGetMemoryInfo(handle).free)
    except pynvml.NVMLError:
        return None
    finally:
        pynvml.nvmlShutdown()


def _nvml_handle(pynvml, name: str):
    """NVML counts GPUs in PCI order, CUDA (and TensorFlow) its own: the GPU that
    CUDA_VISIBLE_DEVICES names first, else the first of TensorFlow's GPU:0 model name."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    if visible.isdigit():
        return pynvml.nvmlDeviceGetHandleByIndex(int(visible))
    if visible.startswith("GPU-"):
        return pynvml.nvmlDeviceGetHandleByUUID(visible)
    for index in range(pynvml.nvmlDeviceGetCount()):
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        found = pynvml.nvmlDeviceGetName(handle)
        if (found.decode() if isinstance(found, bytes) else found) == name:
            return handle
    return None


def _tensorflow_free_bytes() -> float:
    """What TensorFlow's allocator may take of GPU:0: its free memory when it started."""
    from tensorflow.python.client import device_lib  # noqa: PLC0415 - no public API has it

    for local in device_lib.list_local_devices():
        if local.device_type == "GPU":
            return float(local.memory_limit)
    raise DeviceError("TensorFlow listed a GPU but could not start it; use --device cpu")


def configure(device: Device) -> None:
    """TensorFlow on `device` alone, growing into the GPU's memory as it needs it instead of
    mapping all of it at start-up. Logs a line when TensorFlow had already started."""
    gpus = tf.config.list_physical_devices("GPU")
    try:
        if device.kind == "cpu":
            if gpus:
                tf.config.set_visible_devices([], "GPU")
        else:
            tf.config.set_visible_devices(gpus[:1], "GPU")
            tf.config.experimental.set_memory_growth(gpus[0], True)
    except RuntimeError:  # TensorFlow has started already: its devices are fixed
        visible = tf.config.get_visible_devices("GPU")
        if (device.kind == "cpu") != (not visible):
            logging.warning("TensorFlow had already started with %s; the run uses what it has",
                            "a GPU" if visible else "no GPU")


def resolve_precision(requested: str, device: Device) -> str:
    """The precision a run computes in on `device`: `requested`, or for auto bfloat16 where
    the device has it natively and faster than float32, else float32. DeviceError for
    float16 on a CPU."""
    if requested == "auto":
        return "bfloat16" if device.prefers_bfloat16 else "float32"
    if requested == "float16" and device.kind == "cpu":
        raise DeviceError(
            "--precision float16 needs a GPU: a CPU has no fast float16 arithmetic "
            "(TensorFlow falls back to slow generic kernels); use bfloat16 or float32")
    if requested == "bfloat16" and device.kind == "gpu" and not device.native_bfloat16:
        capability = ".".join(map(str, device.compute_capability or ()))
        raise DeviceError(
            f"--precision bfloat16 needs a GPU of compute capability 8.0 or more (Ampere on); "
            f"{device.name} has {capability or 'an unknown one'}: use float16 or float32")
    if requested == "bfloat16" and not device.native_bfloat16:
        logging.warning("This CPU has no bfloat16 instructions (AVX512_BF16 or AMX): "
                        "bfloat16 will be emulated and slower than float32")
    return requested


def precision_note(precision: str, device: Device) -> str:
    """What `precision` means on `device`, for --dry_run and the log."""
    if precision == "float32" and device.kind == "gpu" and device.native_bfloat16:
        return "float32 (TF32 in convolutions and matrix products, as TensorFlow does on this GPU)"
    if precision == "float16":
        return "float16 with dynamic loss scaling; statistics, losses and the image in float32"
    if precision == "bfloat16":
        return "bfloat16; statistics, losses and the image in float32"
    return precision
