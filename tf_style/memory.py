"""How much memory a run needs, what the device allows, and whole image or tiles.

The model of a step's peak memory (bytes):

    BASE + PER_IMAGE_PIXEL * H*W + PER_NETWORK_PIXEL * (pixels VGG19 sees at once)
         + the optimizer's state + the content targets + the input arrays

The last three are counted exactly from the settings and the loaded images. On a CPU the
three constants are fitted to peak RSS measured on runs from 256 to 2048 px, whole and
tiled, for each precision (`python benchmarks/memory.py --fit`, which prints the
prediction beside the measurement). On a GPU they come from the layer shapes times the
bytes per element until measured there; and a tiled step on a GPU keeps the image-sized
state (image, gradient, optimizer, content targets) in the machine's memory, so the GPU
holds the network and one tile.

Where a limit comes from is a `machine_memory.MemorySource`: the machine's memory, a GPU's
(`tf_style.devices.GpuMemory`), or a number (`FixedMemory`: --memory_limit, tests).
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Callable, List, Optional, Sequence, Tuple

import numpy as np

from tf_style import machine_memory, run_plan, tile_geometry
from tf_style.architecture import MIN_IMAGE_SIDE
from tf_style.config import TransferConfig
from tf_style.architecture import conv_layer_names, layer_channels, layer_position
from tf_style.errors import TransferError

if TYPE_CHECKING:
    from tf_style.devices import Device

GB = 1e9


@dataclasses.dataclass(frozen=True)
class CostModel:
    """The constants of the memory and time model for one kind of device and precision.

    `seconds_per_network_pixel` is None where the time was never measured."""

    base_bytes: float  # TensorFlow, VGG19's weights, the interpreter (a GPU: its context)
    per_image_pixel_bytes: float  # the image, its gradient, the step's image-sized temporaries
    per_network_pixel_bytes: float  # VGG19's activations and their gradients, per input pixel
    seconds_per_step: float
    seconds_per_network_pixel: Optional[float]
    tiled_pass_cost: float  # the tiled step's passes per pixel, as a share of the whole step's
    state_in_device_memory_when_tiled: bool  # False on a GPU: the host keeps it
    source: str


# Fitted by `python benchmarks/memory.py --fit` on the 2-core, 24 GB reference machine
# (AMD EPYC with AVX512_BF16), each precision on its own runs.
# Seconds refitted 2026-12-06 on the 2-core Intel Xeon (AVX512_BF16, no AMX), where auto
# is float32: whole ImageNet-VGG16 runs at 512 px took 0.37 s a step at 256x192 and 1.07 s
# at 512x384 (benchmarks/schedule.py), brought to VGG19 by `_scaled_to_model`'s ratio.
CPU_FLOAT32 = CostModel(
    base_bytes=0.867e9, per_image_pixel_bytes=186.7, per_network_pixel_bytes=1777.3,
    seconds_per_step=0.172, seconds_per_network_pixel=5.96e-6, tiled_pass_cost=1.357,
    state_in_device_memory_when_tiled=True,
    source="measured on the 2-core reference CPU")
# bfloat16's memory constants are fitted (`--precision bfloat16 --fit`, 2026-12-02); its
# seconds are the float32 ones of the AMD EPYC where auto picks it (0.084 s + 3.59e-6 s a
# network pixel) times 0.55, the step-time ratio benchmarks/precision.py measured there
# with the two precisions alternating.
BFLOAT16_STEP_TIME_RATIO = 0.55
CPU_BFLOAT16 = CostModel(
    base_bytes=0.943e9, per_image_pixel_bytes=168.7, per_network_pixel_bytes=1183.6,
    seconds_per_step=0.084 * BFLOAT16_STEP_TIME_RATIO,
    seconds_per_network_pixel=3.59e-6 * BFLOAT16_STEP_TIME_RATIO,
    tiled_pass_cost=CPU_FLOAT32.tiled_pass_cost, state_in_device_memory_when_tiled=True,
    source="measured on the 2-core reference CPU")
# A GPU before any measurement there: its context, cuDNN's and cuBLAS's workspaces and the
# weights (a guess, not measured), the image-sized state as on a CPU, and the network's
# activations from the layer shapes (`layer_values_per_pixel`).
GPU_BASE_BYTES = 1.0e9
# Activations kept for the backward pass, and at least as much again while it runs.
GPU_ACTIVATION_COPIES = 2.0

# A plan fits when the estimate times this is under the limit: out of the fit, the model
# under-predicted a whole 3840x2160 step by 14% and 7680x4320 in tiles by 9%.
ESTIMATE_ALLOWANCE = 1.15
# Below this a tile's halo (80 + 96 px at block5_conv1) costs more than its inside.
MIN_TILE_SIZE = 128
# The smallest tiles a run falls back to after running out of memory (tile_geometry.ALIGNMENT x 2).
MIN_FALLBACK_TILE_SIZE = 32
# Bytes of a number in each precision the network computes in.
PRECISION_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}




def layer_values_per_pixel(config: TransferConfig, precision: str) -> float:
    """Bytes per input pixel of the network's layer outputs up to the deepest layer used:
    conv and pool outputs in `precision`; in half precision, block1_conv1 also before its
    ReLU, in float32 (`vgg.build_vgg`)."""
    names = conv_layer_names(config.model)
    deepest = names.index(max(config.content_layers + config.style_layers, key=layer_position))
    element = PRECISION_BYTES[precision]
    total, block = 0.0, 1
    for name in names[:deepest + 1]:
        name_block = layer_position(name)[0]
        if name_block != block:  # the pool before this block
            total += element * layer_channels(f"block{block}_conv1") / 4 ** block
            block = name_block
        values = layer_channels(name) / 4 ** (block - 1)
        total += values * element
        if name == "block1_conv1" and precision != "float32":
            total += values * 4
    return total


def cost_model(device_kind: str, precision: str, config: TransferConfig) -> CostModel:
    """The model for a run of `config` on a `device_kind` (cpu or gpu) in `precision`."""
    if device_kind == "cpu" and precision in ("float32", "bfloat16"):
        measured = CPU_FLOAT32 if precision == "float32" else CPU_BFLOAT16
        if config.model == "vgg19":
            return measured
        return _scaled_to_model(measured, config, precision)
    network = GPU_ACTIVATION_COPIES * layer_values_per_pixel(config, precision)
    if device_kind == "cpu":  # float16 on a CPU: only tests make one
        return dataclasses.replace(CPU_FLOAT32, per_network_pixel_bytes=network,
                                   seconds_per_network_pixel=None,
                                   source="from the layer shapes (not measured)")
    return CostModel(
        base_bytes=GPU_BASE_BYTES, per_image_pixel_bytes=CPU_FLOAT32.per_image_pixel_bytes,
        per_network_pixel_bytes=network, seconds_per_step=0.0, seconds_per_network_pixel=None,
        tiled_pass_cost=CPU_FLOAT32.tiled_pass_cost, state_in_device_memory_when_tiled=False,
        source="from the layer shapes (not measured on a GPU yet)")


def _scaled_to_model(measured: CostModel, config: TransferConfig, precision: str) -> CostModel:
    """VGG19's fitted constants carried to another model: the network's bytes per pixel by
    the ratio of its layer outputs, its seconds by the ratio of its conv multiply-adds
    (checked against measurement in docs/large-pictures.md)."""
    as_vgg19 = dataclasses.replace(config, model="vgg19")
    memory_ratio = (layer_values_per_pixel(config, precision)
                    / layer_values_per_pixel(as_vgg19, precision))
    time_ratio = conv_multiply_adds_per_pixel(config) / conv_multiply_adds_per_pixel(as_vgg19)
    return dataclasses.replace(
        measured, per_network_pixel_bytes=measured.per_network_pixel_bytes * memory_ratio,
        seconds_per_step=measured.seconds_per_step * time_ratio,
        seconds_per_network_pixel=measured.seconds_per_network_pixel * time_ratio,
        source=f"{measured.source}, VGG19's scaled to {config.model.upper()}'s layers")


def conv_multiply_adds_per_pixel(config: TransferConfig) -> float:
    """Multiply-adds per input pixel of the network's convs up to the deepest layer used."""
    names = conv_layer_names(config.model)
    deepest = names.index(max(config.content_layers + config.style_layers, key=layer_position))
    total, inputs = 0.0, 3
    for name in names[:deepest + 1]:
        block = layer_position(name)[0]
        total += 9 * inputs * layer_channels(name) / 4 ** (block - 1)
        inputs = layer_channels(name)
    return total


def optimizer_bytes(config: TransferConfig, pixels: int) -> float:
    """The optimizer's image-sized state: L-BFGS's history (16-bit) and three float32
    buffers; Adam's two moments; RMSprop's one."""
    values = 3 * pixels
    if config.optimizer == "lbfgs":
        return 2 * config.lbfgs_history * values * 2 + 3 * values * 4
    return (2 if config.optimizer == "adam" else 1) * values * 4


def content_target_bytes(config: TransferConfig, height: int, width: int,
                         precision: str = "float32") -> float:
    """The content layers' feature maps kept as targets, in the network's precision."""
    total = 0.0
    for name in config.content_layers:
        rows, columns = tile_geometry.layer_shape(height, width, name)
        total += rows * columns * layer_channels(name) * PRECISION_BYTES[precision]
    return total


def crop_areas(config: TransferConfig, height: int, width: int,
               tile_size: Optional[int]) -> List[int]:
    """The pixels VGG19 sees in each pass of a step: the image, or each tile with its halo."""
    if tile_size is None:
        return [height * width]
    halo = tile_geometry.halo_for(config.content_layers + config.style_layers, config.model)
    return [(tile.crop[1] - tile.crop[0]) * (tile.crop[3] - tile.crop[2])
            for tile in tile_geometry.tiles_covering(height, width, tile_size, halo,
                                                     config.wrap_axes)]


def network_pixels(config: TransferConfig, height: int, width: int,
                   tile_size: Optional[int]) -> int:
    """Pixels VGG19 sees at once: the whole image, or the largest tile with its halo."""
    return max(crop_areas(config, height, width, tile_size))


def state_bytes(config: TransferConfig, height: int, width: int, input_bytes: float,
                model: CostModel = CPU_FLOAT32, precision: str = "float32") -> float:
    """The image-sized state of a step at (height, width): the image, its gradient and the
    step's temporaries, the optimizer's state, the convergence rule's copy of the picture
    (float16), the content targets, the input arrays."""
    pixels = height * width
    reference = 3 * pixels * 2 if config.convergence_change > 0 else 0
    return (model.per_image_pixel_bytes * pixels + optimizer_bytes(config, pixels) + reference
            + content_target_bytes(config, height, width, precision) + input_bytes)


def peak_bytes(config: TransferConfig, height: int, width: int, tile_size: Optional[int],
               input_bytes: float, model: CostModel = CPU_FLOAT32,
               precision: str = "float32") -> float:
    """The model's peak memory of a step at (height, width) on the device: on a GPU in
    tiles, one tile's share of the state (the machine keeps the rest: `host_bytes`)."""
    network = network_pixels(config, height, width, tile_size)
    if tile_size is not None and not model.state_in_device_memory_when_tiled:
        return model.base_bytes + (model.per_image_pixel_bytes + model.per_network_pixel_bytes) * network
    return (model.base_bytes + model.per_network_pixel_bytes * network
            + state_bytes(config, height, width, input_bytes, model, precision))


def host_bytes(config: TransferConfig, height: int, width: int, input_bytes: float,
               precision: str) -> float:
    """What the machine's memory holds while a GPU runs a step in tiles."""
    return CPU_FLOAT32.base_bytes + state_bytes(config, height, width, input_bytes,
                                                CPU_FLOAT32, precision)


def network_pixels_per_step(config: TransferConfig, height: int, width: int,
                            tile_size: Optional[int]) -> int:
    """Pixels VGG19 runs over in one step: the image, or every tile with its halo."""
    return sum(crop_areas(config, height, width, tile_size))


def seconds_per_step(config: TransferConfig, height: int, width: int,
                     tile_size: Optional[int], model: CostModel = CPU_FLOAT32) -> Optional[float]:
    """The model's seconds per step; None where the device's speed was never measured."""
    if model.seconds_per_network_pixel is None:
        return None
    seen = network_pixels_per_step(config, height, width, tile_size)
    cost = model.seconds_per_network_pixel * (1.0 if tile_size is None else model.tiled_pass_cost)
    return model.seconds_per_step + cost * seen


def tile_candidates(height: int, width: int, smallest: int = MIN_TILE_SIZE) -> List[int]:
    """Tile sizes to try, largest first: the longest side split into 2, 3, 4, ... equal
    parts, rounded up to multiples of 16, down to `smallest`."""
    longest = max(height, width)
    sizes = []
    parts = 2
    while True:
        size = tile_geometry.ALIGNMENT * math.ceil(longest / parts / tile_geometry.ALIGNMENT)
        if size < smallest:
            break
        if not sizes or size < sizes[-1]:
            sizes.append(size)
        parts += 1
    return sizes or [smallest]


def smaller_tile_size(height: int, width: int, tile_size: Optional[int]) -> Optional[int]:
    """The next smaller tiles to fall back to after running out of memory with `tile_size`
    (None: the whole image), down to MIN_FALLBACK_TILE_SIZE; None when there are none."""
    current = tile_size or max(height, width)
    smaller = [size for size in tile_candidates(height, width, MIN_FALLBACK_TILE_SIZE)
               if size < current]
    return smaller[0] if smaller else None


def plan_run(config: TransferConfig, shapes: Sequence[Tuple[int, int]], input_bytes: float,
             limit_bytes: Optional[float] = None, device: Optional["Device"] = None,
             precision: str = "float32") -> run_plan.Plan:
    """Whole image or tiles for each scale of `shapes` ((height, width), coarse to fine), on
    `device` (None: this machine's CPU) computing in `precision`.

    `config.tile_size` is used as given; otherwise each scale runs whole when it fits
    under the limit (`config.memory_limit`, else `limit_bytes`, else the device's memory),
    else in the largest tiles that do, with ESTIMATE_ALLOWANCE to spare. Raises
    MemoryPlanError when not even the smallest tiles fit.
    """
    memory_source = machine_memory.HostMemory() if device is None else device.memory
    if config.memory_limit is not None:
        limit_bytes, source = config.memory_limit * GB, "--memory_limit"
    elif limit_bytes is not None:
        source = "given"
    else:
        limit_bytes, source = memory_source.available()
    kind = "cpu" if device is None else device.kind
    model = cost_model(kind, precision, config)
    host_limit = None
    scales = []
    for height, width in shapes:
        if config.tile_size is not None:
            choices = [config.tile_size]
        else:
            choices = [None] + tile_candidates(height, width)
        estimates = [(tile, peak_bytes(config, height, width, tile, input_bytes, model, precision))
                     for tile in choices]
        fitting = [(tile, estimate) for tile, estimate in estimates if fits(estimate, limit_bytes)]
        tile_size, estimate = fitting[0] if fitting else estimates[-1]
        if not fitting and config.tile_size is None:
            raise MemoryPlanError(config, height, width, estimate, tile_size, limit_bytes,
                                  largest_fitting_size(config, height, width, input_bytes,
                                                       limit_bytes, model, precision))
        host = None
        if tile_size is not None and not model.state_in_device_memory_when_tiled:
            host = host_bytes(config, height, width, input_bytes, precision)
            if host_limit is None:
                host_source = machine_memory.HostMemory() if device is None else device.host
                host_limit, _ = host_source.available()
            if not fits(host, host_limit):
                raise TransferError(
                    f"{width}x{height} px in tiles keeps about {host * ESTIMATE_ALLOWANCE / GB:.3g} "
                    f"GB of image, gradient and optimizer state in the machine's memory, more "
                    f"than the {host_limit / GB:.3g} GB it has free; lower --size")
        tiles = len(crop_areas(config, height, width, tile_size))
        scales.append(run_plan.ScalePlan(height, width, tile_size, tiles, estimate,
                                seconds_per_step(config, height, width, tile_size, model), host))
    described = "CPU" if device is None else device.describe()
    return run_plan.Plan(tuple(scales), limit_bytes, source, described, precision, model.source)


def fits(estimate: float, limit_bytes: float) -> bool:
    """Whether an estimate, with ESTIMATE_ALLOWANCE to spare, stays under `limit_bytes`."""
    return estimate * ESTIMATE_ALLOWANCE <= limit_bytes


def largest_fitting_size(config: TransferConfig, height: int, width: int, input_bytes: float,
                         limit_bytes: float, model: CostModel = CPU_FLOAT32,
                         precision: str = "float32") -> Optional[int]:
    """The largest --size (longest side) whose finest scale fits the limit in the smallest tiles."""
    longest = max(height, width)

    def side_fits(side: int) -> bool:
        ratio = side / longest
        scaled_height, scaled_width = max(1, round(height * ratio)), max(1, round(width * ratio))
        tile = min(tile_candidates(scaled_height, scaled_width))
        return fits(peak_bytes(config, scaled_height, scaled_width, tile, input_bytes * ratio ** 2,
                               model, precision), limit_bytes)

    return largest_side(side_fits, longest)


def largest_side(side_fits: Callable[[int], bool], longest: int) -> Optional[int]:
    """The largest side from MIN_IMAGE_SIDE up to `longest` for which `side_fits` holds, by
    bisection (it must hold for every smaller side too); None when not even the smallest."""
    low, high = MIN_IMAGE_SIDE, longest
    if not side_fits(low):
        return None
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if side_fits(middle) else (low, middle)
    return low


class MemoryPlanError(TransferError):
    """No way to run a scale within the memory limit; says the largest size that would fit."""

    def __init__(self, config: TransferConfig, height: int, width: int, estimate: float,
                 tile_size: int, limit_bytes: float, largest: Optional[int]):
        advice = (f"--size {largest} fits" if largest
                  else "not even the smallest size fits; free some memory")
        super().__init__(
            f"{width}x{height} px needs about {estimate * ESTIMATE_ALLOWANCE / GB:.3g} GB even in "
            f"{tile_size} px tiles ({ESTIMATE_ALLOWANCE - 1:.0%} to spare included), more than the "
            f"{limit_bytes / GB:.3g} GB memory limit; {advice} (or raise "
            f"--memory_limit)")


def array_bytes(arrays: Sequence[Optional[np.ndarray]]) -> float:
    """The bytes of distinct arrays (the same array counted once)."""
    seen = {}
    for array in arrays:
        if array is not None:
            seen[id(array)] = array.nbytes
    return float(sum(seen.values()))
