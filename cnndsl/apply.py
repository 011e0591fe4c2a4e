"""Run a network of fixed filters on a picture and make what comes out a picture (`cnndsl apply`).

    cnndsl apply architectures/filters.cnn -o filters.png        # scikit-learn's sample photograph
    cnndsl apply architectures/filters.cnn --image cat.jpg       # writes cat_filters.png next to cat.jpg

The network runs with the PyTorch backend. Only fixed filters (`weights=` in the .cnn file) and layers
without weights are accepted: a trainable layer would show its random initialisation, not a filter. The
command itself is in cli.py; this module is its library: `check_network`, `image_format`, `apply`.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

from .errors import UsageError

SAMPLE = "china.jpg"  # ships inside scikit-learn (sklearn.datasets.load_sample_image): nothing is downloaded
FLAT = 1e-3  # below this response to a flat image, an output is an edge map
GAP = 8  # pixels between the pictures of a grid

DESCRIPTION = f"""\
Run a network of fixed filters (conv with weights=...) on an image and write the result as an image.

The image is read as RGB for a network whose input has 3 channels, as greyscale for 1, with values
0..1, and resized to the input's size where the .cnn file fixes it; input(3, ?, ?) takes any size, and
--width scales the picture first. Without --image, scikit-learn's sample photograph {SAMPLE} is used.

What is written: a 3-channel output is an RGB image, a 1-channel output a greyscale one. An output that
concatenates branches (concat {{ box: conv(...); sobel: conv(...) }}) becomes a grid with one labelled
picture per branch; any other number of channels, a grid with one greyscale picture per channel.

How values become 0..255: each picture is divided by its response to a flat image (1 for blurs,
sharpening and edge enhancement, whose weights sum to 1), so it keeps the input's brightness, then
clipped to 0..1 and scaled by 255. A picture whose response to a flat image is 0 (an edge map: sobel,
laplacian) is stretched min-max to 0..255 instead.

A network with trainable layers is refused (exit 2): their weights would be random. So is, before anything
is decoded or allocated, a picture of more than 50,000,000 pixels, a side (--width, or a size the .cnn file
fixes) of more than 32,768 pixels, a network that would compute more than 2**28 values (1 GiB) on the
picture, and an output format Pillow cannot write."""


# Bounds, checked before anything is decoded or allocated (the command refuses more, exit 2):
MAX_IMAGE_PIXELS = 50_000_000  # of the picture read: a large camera's photograph (an 87 kB PNG can hold 90 Mpx)
MAX_SIDE = 32_768  # pixels of either side of the picture the network runs on (--width, a fixed input size)
MAX_ELEMENTS = 1 << 28  # float32 values of every layer's output together (1 GiB) on that picture


def check_network(net) -> None:
    """UsageError unless `net` is what `apply` runs: fixed filters only, an image in, a feature map out."""
    trainable = [n.name for n in net.nodes if n.params]
    if trainable:
        raise UsageError(
            f"network {net.name} has trainable layers ({', '.join(trainable[:3])}{', ...' * (len(trainable) > 3)}): "
            "apply runs fixed filters only (conv with weights=...)"
        )
    if len(net.input_shape) != 3 or net.input_shape[0] not in (1, 3) or len(net.output_shape) != 3:
        raise UsageError(
            f"network {net.name} maps {_shape(net.input_shape)} to {_shape(net.output_shape)}: apply needs an "
            "image in (1 or 3 channels × height × width) and a feature map out"
        )


def image_format(output: str) -> str:
    """Pillow's name of the format that `output`'s suffix asks for; UsageError if Pillow cannot write it."""
    from PIL import Image

    suffix = Path(output).suffix.lower()
    name = Image.registered_extensions().get(suffix)
    if name is None:
        raise UsageError(f"{output}: cannot tell the image format from '{suffix}': use .png or .jpg")
    if name not in Image.SAVE:
        raise UsageError(f"{output}: Pillow reads {name} images ('{suffix}') but cannot write them: use .png or .jpg")
    return name


def apply(net, image: str | None, width: int | None, fmt: str) -> tuple[bytes, str]:
    """Run the fixed filters of `net` (`check_network`) on the picture at `image` (None: the sample
    photograph), scaled to `width` pixels if given, and encode the result in Pillow's format `fmt`: the
    bytes, and what was done (`3×427×640 from 3×427×640`)."""
    from PIL import Image

    picture = _read(image, net, width)

    import torch

    from .backends.torch import to_torch

    x = torch.from_numpy(picture)[None]
    model = to_torch(net).eval()
    with torch.no_grad():
        y, flat = model(x)[0].numpy(), model(torch.ones_like(x))[0].numpy()
    pictures = [(label, _to_pixels(y[channels], flat[channels])) for label, channels in _panels(net)]
    result = pictures[0][1] if len(pictures) == 1 else _grid(pictures)
    buffer = io.BytesIO()
    try:
        Image.fromarray(result[:, :, 0] if result.shape[2] == 1 else result).save(buffer, format=fmt)
    except (OSError, ValueError, KeyError) as e:  # a format that cannot hold this picture (its mode, its size)
        raise UsageError(f"cannot write the result as {fmt}: {e}; use .png") from None
    return buffer.getvalue(), f"{_shape(y.shape)} from {_shape(picture.shape)}"


def _shape(shape) -> str:
    return "×".join(str(d) for d in shape)


def default_output(image: str | None, network: str) -> str:
    if image is None:
        return f"{Path(SAMPLE).stem}_{network}.png"
    path = Path(image)
    return str(path.with_name(f"{path.stem}_{network}.png"))


def _read(path: str | None, net, scale_to: int | None):
    """The image as a float32 C×H×W array of 0..1, in the network's channels and size (where fixed, else
    `scale_to` pixels wide if given). UsageError for what is no image, or too large to read or to run."""
    import warnings

    import numpy as np
    from PIL import Image

    shape = net.input_shape
    if path is None:
        from sklearn.datasets import load_sample_image

        image = Image.fromarray(load_sample_image(SAMPLE))
    elif not Path(path).is_file():
        raise UsageError(f"{path}: no such image file")
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                pillow_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # ours is lower, and said
                try:
                    image = Image.open(path)  # reads the header only
                finally:
                    Image.MAX_IMAGE_PIXELS = pillow_limit
                if image.width * image.height > MAX_IMAGE_PIXELS:
                    raise UsageError(
                        f"{path}: a picture of {image.width:,}×{image.height:,} pixels is larger than the "
                        f"{MAX_IMAGE_PIXELS:,} apply reads; scale it down first"
                    )
                image.load()
        # Pillow reports a broken file as OSError, ValueError, or SyntaxError ("broken PNG file"), EOFError
        except (
            OSError,
            SyntaxError,
            EOFError,
            ValueError,
            Image.DecompressionBombError,
            Image.DecompressionBombWarning,
        ) as e:
            raise UsageError(f"{path}: not an image that Pillow can read ({e})") from None
    channels, height, width = shape
    fixed = isinstance(height, int) or isinstance(width, int)  # sizes the .cnn file fixes
    if scale_to is not None:
        if fixed:
            raise UsageError(f"--width: the network fixes the input size ({_shape(shape)})")
        if scale_to < 1:
            raise UsageError(f"--width must be at least 1, not {scale_to}")
        size = (scale_to, max(1, round(image.height * min(scale_to, MAX_SIDE + 1) / image.width)))
    elif fixed:
        size = (width if isinstance(width, int) else image.width, height if isinstance(height, int) else image.height)
    else:
        size = (image.width, image.height)
    _check_size(net, size, "--width" if scale_to is not None else "the network's input" if fixed else "the picture")
    image = image.convert("RGB" if channels == 3 else "L")
    if size != (image.width, image.height):
        image = image.resize(size, Image.Resampling.LANCZOS)
    array = np.asarray(image, dtype=np.float32) / 255
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1).copy()


def _check_size(net, size: tuple[int, int], what: str) -> None:
    """UsageError unless the network can run on a picture of `size` (width, height) within the bounds."""
    w, h = size
    if max(w, h) > MAX_SIDE:
        raise UsageError(f"{what}: a picture of {w:,}×{h:,} pixels is too large: apply takes sides up to {MAX_SIDE:,}")
    elements = activations(net, (net.input_shape[0], h, w))
    if elements is None or elements > MAX_ELEMENTS:
        raise UsageError(
            f"{what}: network {net.name} on a {w:,}×{h:,} picture computes "
            f"{'too many' if elements is None else f'{elements:,}'} values, more than the {MAX_ELEMENTS:,} "
            "(1 GiB) apply allows; use a smaller --width"
        )


def activations(net, shape) -> int | None:
    """The float values of every node's output when `net` runs on an input of `shape` (its open sizes
    fixed); None where a shape rule fails on it."""
    from . import ops

    shapes, total = [], 0
    for node in net.nodes:
        try:
            out = tuple(shape) if not node.inputs else node.op.infer([shapes[i] for i in node.inputs])
        except ops.ShapeError:
            return None
        shapes.append(out)
        total += math.prod(out)
        if total > MAX_ELEMENTS:
            return total
    return total


def _panels(net) -> list[tuple[str, list[int]]]:
    """(label, output channels) of each picture: one per branch of a final concat (a branch of other than 1
    or 3 channels, one per channel), else the whole output."""
    out = net.nodes[net.output]
    if out.op.kind == "concat":
        parts = [(_branch_label(net, out, i), net.nodes[i].shape[0]) for i in out.inputs]
    else:
        parts = [(net.name, out.shape[0])]
    panels, start = [], 0
    for label, channels in parts:
        if channels in (1, 3):
            panels.append((label, list(range(start, start + channels))))
        else:
            panels += [(f"{label} [{c}]", [start + c]) for c in range(channels)]
        start += channels
    return panels


def _branch_label(net, concat, value: int) -> str:
    """The label of the branch of `concat` that gives `value`: its sequence's (`original: {}`), else its node's."""
    for scope in net.scopes:
        if scope.kind == "sequence" and scope.parent == concat.scope and scope.output == value:
            return scope.name.rsplit(".", 1)[-1]
    return net.nodes[value].name.rsplit(".", 1)[-1]


def _to_pixels(values, flat):
    """A C×H×W output as an H×W×C uint8 picture, scaled as DESCRIPTION says."""
    import numpy as np

    gain = float(np.median(flat))  # the median leaves out the borders, where zero padding darkens the flat image
    if abs(gain) > FLAT:
        scaled = values / gain
    else:
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    return (np.clip(scaled, 0, 1) * 255).round().astype(np.uint8).transpose(1, 2, 0)


def _grid(pictures):
    """Equal-sized pictures in rows, each under its label, on white."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    height, width = pictures[0][1].shape[:2]
    font = ImageFont.load_default(size=max(12, width // 16))
    label_height = font.size + GAP
    columns = min(len(pictures), max(3, math.ceil(math.sqrt(len(pictures)))))
    rows = math.ceil(len(pictures) / columns)
    canvas = Image.new("RGB", (columns * (width + GAP) - GAP, rows * (height + label_height + GAP) - GAP), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (label, picture) in enumerate(pictures):
        left, top = (i % columns) * (width + GAP), (i // columns) * (height + label_height + GAP)
        draw.text((left, top + GAP // 2), label, fill="black", font=font)
        rgb = np.repeat(picture, 3, axis=2) if picture.shape[2] == 1 else picture
        canvas.paste(Image.fromarray(rgb), (left, top + label_height))
    return np.asarray(canvas)
