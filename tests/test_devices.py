"""The device and the precision: what auto picks, what is refused, where GPU memory comes from."""

import sys
import types

import pytest

from tf_style import devices, machine_memory


def _cpu(native):
    return devices.Device("cpu", "test CPU", machine_memory.HostMemory(), native)


def _gpu(capability):
    return devices.Device("gpu", "test GPU", machine_memory.FixedMemory(8e9, "test"),
                          capability >= (8, 0), capability)


@pytest.mark.parametrize("device, expected", [
    (_cpu(native=True), "bfloat16"), (_cpu(native=False), "float32"),
    (_gpu((9, 0)), "bfloat16"), (_gpu((8, 0)), "bfloat16"), (_gpu((7, 5)), "float32")])
def test_auto_is_bfloat16_where_the_hardware_computes_it(device, expected):
    assert devices.resolve_precision("auto", device) == expected


def test_explicit_precisions_are_kept_where_they_make_sense():
    assert devices.resolve_precision("float32", _cpu(native=True)) == "float32"
    assert devices.resolve_precision("bfloat16", _cpu(native=False)) == "bfloat16"  # slow, allowed
    assert devices.resolve_precision("float16", _gpu((7, 0))) == "float16"


@pytest.mark.parametrize("precision, device, message", [
    ("float16", _cpu(native=True), "float16 needs a GPU"),
    ("bfloat16", _gpu((7, 0)), "compute capability 8.0 or more")])
def test_a_precision_the_device_cannot_give_is_one_clear_error(precision, device, message):
    with pytest.raises(devices.DeviceError, match=message):
        devices.resolve_precision(precision, device)


@pytest.mark.parametrize("flags, vendor, native, auto", [
    ({"avx512f", "avx512_bf16"}, "AuthenticAMD", True, "bfloat16"),  # EPYC: 1.8x float32
    ({"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}, "GenuineIntel", True, "bfloat16"),
    # A Xeon with AVX512_BF16 and no AMX: oneDNN's bfloat16 convolutions were slower.
    ({"avx512f", "avx512_bf16", "avx512_fp16"}, "GenuineIntel", True, "float32"),
    ({"avx2"}, "GenuineIntel", False, "float32")])
def test_this_machines_cpu_flags_decide_its_bfloat16(monkeypatch, flags, vendor, native, auto):
    monkeypatch.setattr(devices, "_cpu_flags_model_and_vendor",
                        lambda: (flags, "Test CPU", vendor))
    device = devices.cpu_device()
    assert device.kind == "cpu" and device.native_bfloat16 == native
    assert device.name.startswith("Test CPU") and ("AVX512_BF16" in device.name) == native
    assert devices.resolve_precision("auto", device) == auto


def test_device_gpu_without_one_is_refused_and_cpu_is_found():
    import tensorflow as tf
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    with pytest.raises(devices.DeviceError, match="--device gpu: TensorFlow sees no GPU"):
        devices.find_device("gpu")
    assert devices.find_device("auto").kind == "cpu"
    assert devices.find_device("cpu").kind == "cpu"


def test_gpu_memory_comes_from_nvml_else_from_tensorflow(monkeypatch):
    calls = []

    class FakeNvml(types.SimpleNamespace):
        class NVMLError(Exception):
            pass

    free = {0: 2e9, 1: 6e9}
    nvml = FakeNvml(
        nvmlInit=lambda: calls.append("init"), nvmlShutdown=lambda: calls.append("shutdown"),
        nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda index: index,
        nvmlDeviceGetName=lambda handle: ["Other GPU", "test GPU"][handle].encode(),
        nvmlDeviceGetMemoryInfo=lambda handle: types.SimpleNamespace(free=free[handle]))
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    limit, source = devices.GpuMemory("test GPU").available()
    assert limit == pytest.approx(6e9 * (1 - machine_memory.DEFAULT_MARGIN))
    assert source == "free GPU memory (NVML) less 10%" and calls == ["init", "shutdown"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")  # CUDA's GPU:0 is the one named first
    assert devices.GpuMemory("test GPU").available()[0] == pytest.approx(2e9 * 0.9)
    monkeypatch.setitem(sys.modules, "pynvml", None)  # not installed
    monkeypatch.setattr(devices, "_tensorflow_free_bytes", lambda: 4e9)
    limit, source = devices.GpuMemory("test GPU").available()
    assert limit == pytest.approx(4e9 * 0.9) and "(TensorFlow)" in source


def test_the_note_says_float32_is_tf32_on_ampere_and_later():
    assert "TF32" in devices.precision_note("float32", _gpu((8, 0)))
    assert "TF32" not in devices.precision_note("float32", _gpu((7, 5)))
    assert "loss scaling" in devices.precision_note("float16", _gpu((7, 5)))
