"""Forward speed of the PyTorch backend's code against hand-written modules with the same weights.

    python benchmarks/torch_forward.py [--runs 10] [--batch 8] [--threads N]

ResNet-34 and VGG-16 compiled from architectures/ are timed against compact copies of torchvision's
resnet.py and vgg.py written below, with one state_dict loaded into both. Inference on the CPU, a batch
of 224x224 images, the two models run alternately (the order swapped every round, so that a drift in the
machine's speed touches both), and each is summarised by the median of its runs. The ratio emitted /
hand-written should be at most 1.03.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from torch import Tensor, nn

import cnndsl

ARCHITECTURES = Path(__file__).resolve().parent.parent / "architectures"


class BasicBlock(nn.Module):
    """torchvision.models.resnet.BasicBlock."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: Tensor) -> Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet34(nn.Module):
    """torchvision.models.resnet34."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inplanes = 64
        for i, (planes, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)]):
            stride = 1 if i == 0 else 2
            layer = [BasicBlock(inplanes, planes, stride)] + [BasicBlock(planes, planes) for _ in range(blocks - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))
            inplanes = planes
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class VGG16(nn.Module):
    """torchvision.models.vgg16 (configuration D, no batch norm)."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                channels = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(p=0.5),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(p=0.5),
            nn.Linear(4096, num_classes),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def timed(model: nn.Module, x: Tensor) -> float:
    start = time.perf_counter()
    model(x)
    return time.perf_counter() - start


def compare(name: str, hand: nn.Module, runs: int, batch: int) -> tuple[float, float]:
    """Median seconds per forward pass of the emitted model and of the hand-written one."""
    emitted = cnndsl.to_torch(cnndsl.load(ARCHITECTURES / f"{name}.cnn")).eval()
    hand.load_state_dict(emitted.state_dict())
    hand.eval()
    x = torch.randn(batch, 3, 224, 224)
    with torch.inference_mode():
        if not torch.equal(emitted(x), hand(x)):  # also the warm-up run
            raise AssertionError(f"{name}: the two models disagree")
        times: dict[str, list[float]] = {"emitted": [], "hand": []}
        for i in range(runs):
            order = [("emitted", emitted), ("hand", hand)]
            for key, model in order if i % 2 == 0 else order[::-1]:
                times[key].append(timed(model, x))
    return statistics.median(times["emitted"]), statistics.median(times["hand"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="forward passes of each model (at least 10)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch's threads (1 gives steadier times on a shared machine)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, {args.runs} runs each")
    print(f"{'model':<10} {'emitted (ms)':>13} {'hand-written (ms)':>18} {'ratio':>7}")
    for name, hand in (("resnet34", ResNet34()), ("vgg16", VGG16())):
        emitted, written = compare(name, hand, max(args.runs, 10), args.batch)
        print(f"{name:<10} {emitted * 1e3:>13.1f} {written * 1e3:>18.1f} {emitted / written:>7.3f}")


if __name__ == "__main__":
    main()
