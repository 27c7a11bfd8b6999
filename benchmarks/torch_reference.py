"""The same step in PyTorch and in tf_style, in one process, at each precision.

    pip install torch==2.13.0        # CPU build; a benchmark-only dependency
    python benchmarks/torch_reference.py --sizes 256,512 --precisions float32,bfloat16

VGG19 up to block5_conv1 with average pooling, random weights, and our losses (content
at block4_conv2, normalised Gram losses at block1-5_conv1, total variation), one Adam
step on the image per iteration, on an image of the benchmark's shape (4:3, as
tubingen.jpg). bfloat16 is PyTorch's `autocast` on the CPU for the network and ours
(`--precision bfloat16`); both take the Grams and losses in float32. The two steps
alternate, three of each for warm-up, then --steps of each: the medians printed are from
the same minutes of the same machine.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

# (block, output channels) of the conv layers up to block5_conv1.
LAYERS = [(1, 64), (1, 64), (2, 128), (2, 128), (3, 256), (3, 256), (3, 256), (3, 256),
          (4, 512), (4, 512), (4, 512), (4, 512), (5, 512)]
NAMES = ["block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2", "block3_conv1",
         "block3_conv2", "block3_conv3", "block3_conv4", "block4_conv1", "block4_conv2",
         "block4_conv3", "block4_conv4", "block5_conv1"]
STYLE_LAYERS = ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"]
CONTENT_LAYER = "block4_conv2"


def torch_step(size: int, precision: str):
    """One PyTorch Adam step on a (size * 3/4) x size image, as a function."""
    import torch
    torch.manual_seed(0)
    convs, channels = [], 3
    for _, out_channels in LAYERS:
        conv = torch.nn.Conv2d(channels, out_channels, 3, padding=1)
        torch.nn.init.kaiming_normal_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
        conv.requires_grad_(False)
        convs.append(conv)
        channels = out_channels

    def network(image):
        result, x, block = {}, image, 1
        for (layer_block, _), name, conv in zip(LAYERS, NAMES, convs):
            if layer_block != block:
                x = torch.nn.functional.avg_pool2d(x, 2)
                block = layer_block
            x = torch.relu(conv(x))
            result[name] = x
        return result

    def features(image):
        with (torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bfloat16"
              else contextlib.nullcontext()):
            found = network(image)
        return {name: value.float() for name, value in found.items()}

    def gram(x):
        flat = x.flatten(2)
        return flat @ flat.transpose(1, 2) / flat.shape[-1]

    def relative(value, target):
        return ((value - target) ** 2).sum() / (target ** 2).sum()

    height, width = size * 3 // 4, size
    content = torch.rand(1, 3, height, width) * 255
    style = torch.rand(1, 3, size, size) * 255
    with torch.no_grad():
        content_target = features(content)[CONTENT_LAYER]
        style_targets = {name: gram(f) for name, f in features(style).items() if name in STYLE_LAYERS}
    image = content.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([image], lr=5.0)

    def step():
        optimizer.zero_grad()
        found = features(image)
        style_loss = sum(relative(gram(found[n]), style_targets[n]) for n in STYLE_LAYERS) / 5
        tv = ((image[:, :, 1:] - image[:, :, :-1]) / 255).pow(2).mean() + (
            (image[:, :, :, 1:] - image[:, :, :, :-1]) / 255).pow(2).mean()
        loss = relative(found[CONTENT_LAYER], content_target) + 1e3 * style_loss + 1e-2 * tv
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            image.clamp_(0, 255)
        return float(loss.detach())

    return step


def our_step(size: int, precision: str):
    """tf_style's Adam step on the same shapes, as a function."""
    import numpy as np
    from tf_style import TransferConfig, vgg, weights
    from tf_style.inputs import PreparedInputs
    from tf_style.transfer import StyleTransfer
    rng = np.random.default_rng(0)
    content = rng.uniform(0, 255, (size * 3 // 4, size, 3)).astype(np.float32)
    style = rng.uniform(0, 255, (size, size, 3)).astype(np.float32)
    config = TransferConfig(content="content", style="style", size=size, optimizer="adam",
                            weights="random", precision=precision)
    model = vgg.build_vgg(config.content_layers + config.style_layers, precision=precision)
    weights.load_weights(model, weights.WeightsSource("random", seed=0))
    transfer = StyleTransfer.from_config(config, PreparedInputs.from_arrays(content, [style]), model)
    return lambda: float(transfer.train_step()["total"])


def interleaved_medians(functions: dict, steps: int) -> dict:
    """Median seconds of each function, called in turn: three rounds of warm-up, then `steps`."""
    seconds = {name: [] for name in functions}
    for round_index in range(3 + steps):
        for name, function in functions.items():
            started = time.perf_counter()
            function()
            if round_index >= 3:
                seconds[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--precisions", default="float32,bfloat16")
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    import torch
    import tensorflow as tf
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"tensorflow {tf.__version__}; median s/step of {args.steps} Adam steps, alternating")
    print(f"{'size':>6} {'precision':>10} {'PyTorch':>8} {'tf_style':>9} {'ours vs theirs':>15}")
    for size in (int(s) for s in args.sizes.split(",")):
        for precision in args.precisions.split(","):
            medians = interleaved_medians({"torch": torch_step(size, precision),
                                           "ours": our_step(size, precision)}, args.steps)
            print(f"{size:>6} {precision:>10} {medians['torch']:>8.3f} {medians['ours']:>9.3f} "
                  f"{medians['torch'] / medians['ours']:>14.2f}x", flush=True)


if __name__ == "__main__":
    main()
