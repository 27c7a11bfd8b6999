"""VGG16 against VGG19: seconds per step of the default run, in one process, alternating.

    python benchmarks/models.py                 # 512 px, whole image, 3 warm-up + 10 steps each
    python benchmarks/models.py --size 1024 --steps 5

On Tübingen x Starry Night from ../shared/images, --weights random (the speed does not
depend on the weights), the precision auto picks here, the default layers (to
block5_conv1). One process holds both transfers and steps them in turn, so both see the
same machine; prints each model's median and the ratio, and what the plan predicted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from schedule import ROOT  # benchmarks/schedule.py, beside this script
import pictures  # benchmarks/pictures.py, beside this script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=10)
    arguments = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, ROOT)
    from tf_style import TransferConfig, devices, images, memory, vgg, weights
    from tf_style.inputs import PreparedInputs
    from tf_style.transfer import StyleTransfer
    content, style = (images.resize_longest_side(images.load_image(pictures.picture(name)),
                                                 arguments.size)
                      for name in ("tubingen", "starry_night"))
    precision = devices.resolve_precision("auto", devices.cpu_device())
    transfers, configs = {}, {}
    for model_name in ("vgg19", "vgg16"):
        config = TransferConfig(content="content", style="style", size=arguments.size,
                                weights="random", model=model_name)
        model = vgg.build_vgg(config.content_layers + config.style_layers, precision=precision,
                              model=model_name)
        weights.load_weights(model, weights.WeightsSource("random", seed=0))
        transfers[model_name] = StyleTransfer.from_config(
            config, PreparedInputs.from_arrays(content, [style]), model)
        configs[model_name] = config
    for _ in range(3):
        for transfer in transfers.values():
            transfer.train_step()
    seconds = {name: [] for name in transfers}
    for _ in range(arguments.steps):
        for name, transfer in transfers.items():
            started = time.perf_counter()
            transfer.train_step()
            seconds[name].append(time.perf_counter() - started)
    print(f"{arguments.size} px, {precision}, {arguments.steps} steps each, alternating")
    for name in transfers:
        model = memory.cost_model("cpu", precision, configs[name])
        height, width = content.shape[:2]
        predicted = model.seconds_per_step + model.seconds_per_network_pixel * height * width
        print(f"{name}: median {statistics.median(seconds[name]):.3f} s/step "
              f"(plan: {predicted:.3f})")
    ratio = statistics.median(seconds["vgg16"]) / statistics.median(seconds["vgg19"])
    multiply_adds = {name: memory.conv_multiply_adds_per_pixel(config)
                     for name, config in configs.items()}
    print(f"vgg16 / vgg19: {ratio:.2f} (conv multiply-adds: "
          f"{multiply_adds['vgg16'] / multiply_adds['vgg19']:.2f})")


if __name__ == "__main__":
    main()
