"""The same step in PyTorch, to compare seconds per step on the same machine.

    pip install torch==2.13.0        # CPU build; a benchmark-only dependency
    python benchmarks/torch_reference.py --sizes 256,512

VGG19 up to block5_conv1 with average pooling, random weights, and our losses (content
at block4_conv2, normalised Gram losses at block1-5_conv1, total variation), one Adam
step on the image per iteration, on an image of the benchmark's shape (4:3, as
tubingen.jpg). Prints the median seconds per step; run benchmarks/run.py --parts speed
in the same session to compare (a shared machine is noisy across sessions).
"""

from __future__ import annotations

import argparse

from run import step_seconds  # benchmarks/run.py, beside this script

# (block, output channels) of the conv layers up to block5_conv1.
LAYERS = [(1, 64), (1, 64), (2, 128), (2, 128), (3, 256), (3, 256), (3, 256), (3, 256),
          (4, 512), (4, 512), (4, 512), (4, 512), (5, 512)]
NAMES = ["block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2", "block3_conv1",
         "block3_conv2", "block3_conv3", "block3_conv4", "block4_conv1", "block4_conv2",
         "block4_conv3", "block4_conv4", "block5_conv1"]
STYLE_LAYERS = ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"]
CONTENT_LAYER = "block4_conv2"


def seconds_per_step(size: int, steps: int) -> float:
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

    def features(image):
        result, x, block = {}, image, 1
        for (layer_block, _), name, conv in zip(LAYERS, NAMES, convs):
            if layer_block != block:
                x = torch.nn.functional.avg_pool2d(x, 2)
                block = layer_block
            x = torch.relu(conv(x))
            result[name] = x
        return result

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

    return step_seconds(step, steps)["median"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    import torch
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"{size:>6} px  {seconds_per_step(size, args.steps):.3f} s/step (Adam)")


if __name__ == "__main__":
    main()
