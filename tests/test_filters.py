"""Fixed filters (`conv(..., weights=...)`): the PyTorch, Keras and ONNX backends against scipy.ndimage on a
photograph, the kernels frozen in each framework, weights carried between them, and `cnndsl apply`."""

from __future__ import annotations

import os
import subprocess
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from conftest import ARCH  # noqa: E402
from PIL import Image  # noqa: E402
from scipy import ndimage  # noqa: E402
from sklearn.datasets import load_sample_image  # noqa: E402

import cnndsl  # noqa: E402
from cnndsl.backends.onnx import onnx_from_torch, to_onnx  # noqa: E402
from cnndsl.cli import main  # noqa: E402

TOLERANCE = 1e-5  # on pixel values of 0..1

# A 24×31 crop of scikit-learn's sample photograph, every other pixel, as 3×H×W values of 0..1: an even
# height and an odd width, so that `same` padding with stride 2 splits unevenly along one axis only.
PICTURE = np.ascontiguousarray(load_sample_image("china.jpg")[100:148:2, 200:262:2].transpose(2, 0, 1) / 255)


def gaussian(size: int, sigma: float) -> np.ndarray:
    g = np.exp(-((np.arange(size) - (size - 1) / 2) ** 2) / (2 * sigma**2))
    return np.outer(g, g) / np.outer(g, g).sum()


# .cnn arguments -> the matrix, written out here as the lecture and PIL define them. The box is 4×4 and the
# explicit matrix 2×3: even sizes, whose `same` padding is uneven too.
KERNELS = {
    "box": ("4, weights=box", np.full((4, 4), 1 / 16)),
    "gaussian": ("5, weights=gaussian, sigma=1.5", gaussian(5, 1.5)),
    "sharpen": ("3, weights=sharpen", np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])),
    "edge_enhance": ("3, weights=edge_enhance", np.array([[-0.5, -0.5, -0.5], [-0.5, 5, -0.5], [-0.5, -0.5, -0.5]])),
    "laplacian": ("3, weights=laplacian", np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]])),
    "sobel_x": ("3, weights=sobel_x", np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])),
    "sobel_y": ("3, weights=sobel_y", np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]])),
    "matrix": ("(2, 3), weights=((1, -2, 0.5), (0, 3, -1))", np.array([[1, -2, 0.5], [0, 3, -1]])),
}
# How the filter meets the channels: each channel on its own (3 outputs), or every output the sum of the three
# filtered channels (2 outputs, both the same).
GROUPING = {"per_channel": "3, {kernel}, groups=3", "across": "2, {kernel}"}
GEOMETRY = [("same", 1), ("same", 2), ("valid", 1), ("valid", 2)]


def scipy_reference(image: np.ndarray, kernel: np.ndarray, grouping: str, padding: str, stride: int) -> np.ndarray:
    """The filter by scipy.ndimage.correlate, with zeros outside the image and TensorFlow's `same` split."""
    origins, sizes = [], []
    for n, k in zip(image.shape[1:], kernel.shape):
        if padding == "same":
            out = -(-n // stride)
            top = max((out - 1) * stride + k - n, 0) // 2  # the odd pixel of padding goes to the bottom/right
        else:
            out, top = (n - k) // stride + 1, 0
        # correlate reads rows i - (k // 2 + origin) ... onwards for output row i: start at i - top.
        origins.append(top - k // 2)
        sizes.append(out)
    filtered = np.stack([ndimage.correlate(c, kernel, mode="constant", cval=0.0, origin=origins) for c in image])
    filtered = filtered[:, ::stride, ::stride][:, : sizes[0], : sizes[1]]
    return np.repeat(filtered.sum(0, keepdims=True), 2, axis=0) if grouping == "across" else filtered


def network(kernel: str, grouping: str, padding: str, stride: int) -> cnndsl.Network:
    args = GROUPING[grouping].format(kernel=KERNELS[kernel][0])
    return cnndsl.loads(f"network f {{ input(3, 24, 31); conv({args}, padding={padding}, strides={stride}) }}")


def run_torch(net, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return cnndsl.to_torch(net).eval()(torch.from_numpy(x)).numpy()


def run_keras(model, x: np.ndarray) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(x.transpose(0, 2, 3, 1), training=False)).transpose(0, 3, 1, 2)


def run_onnx(model, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("grouping", GROUPING)
@pytest.mark.parametrize("kernel", KERNELS)
def test_every_backend_filters_as_scipy_does(kernel, grouping):
    x = PICTURE[None].astype(np.float32)
    for padding, stride in GEOMETRY:
        net = network(kernel, grouping, padding, stride)
        want = scipy_reference(PICTURE, KERNELS[kernel][1], grouping, padding, stride)[None]
        assert want.shape == (1, *net.output_shape)
        got = {
            "torch": run_torch(net, x), "keras": run_keras(cnndsl.to_keras(net), x), "onnx": run_onnx(to_onnx(net), x),
        }  # fmt: skip
        for backend, y in got.items():
            assert np.abs(y - want).max() < TOLERANCE, (backend, padding, stride)


MIXED = """network mixed {
    input(3, 12, 12)
    blur: conv(3, 5, padding=same, groups=3, weights=gaussian, sigma=1.5)
    edges: conv(2, 3, weights=sobel_x, activation=relu)
    learned: conv(4, 3)
}"""


def test_the_kernels_are_not_trained_in_torch():
    net = cnndsl.loads(MIXED)
    model = cnndsl.to_torch(net)
    assert {name for name, _ in model.named_parameters()} == {"learned.weight", "learned.bias"}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.from_numpy(PICTURE[None, :, :12, :12].astype(np.float32))
    model(x).square().mean().backward()
    optimizer.step()
    after = model.state_dict()
    assert torch.equal(after["blur.weight"], before["blur.weight"])
    assert torch.equal(after["edges.weight"], before["edges.weight"])
    assert not torch.equal(after["learned.weight"], before["learned.weight"])  # the step did train


def test_the_kernels_are_not_trained_in_keras():
    net = cnndsl.loads(MIXED)
    model = cnndsl.to_keras(net)
    kernels = {layer: model.get_layer(layer).weights[0] for layer in ("blur", "edges", "learned")}
    assert {w.path for w in model.non_trainable_weights} == {"blur/kernel", "edges/kernel"}
    assert {w.path for w in model.trainable_weights} == {"learned/kernel", "learned/bias"}
    before = {layer: keras.ops.convert_to_numpy(w).copy() for layer, w in kernels.items()}
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = PICTURE[None, :, :12, :12].transpose(0, 2, 3, 1).astype(np.float32)
    model.train_on_batch(x, np.ones((1, 8, 8, 4), np.float32))
    after = {layer: keras.ops.convert_to_numpy(w) for layer, w in kernels.items()}
    assert np.array_equal(after["blur"], before["blur"]) and np.array_equal(after["edges"], before["edges"])
    assert not np.array_equal(after["learned"], before["learned"])


def test_the_kernels_are_constants_in_onnx():
    """ONNX has no training: the kernel is the matrix, also when a torch state_dict is loaded, and a state_dict
    whose fixed kernel is another one is refused rather than silently replaced."""
    net = cnndsl.loads(MIXED)
    sobel = KERNELS["sobel_x"][1].astype(np.float32)
    module = cnndsl.to_torch(net).eval()
    initializers = {t.name: t for t in onnx_from_torch(net, module).graph.initializer}
    edges = initializers["edges.weight"]
    assert list(edges.dims) == [2, 3, 3, 3]
    assert np.array_equal(
        np.frombuffer(edges.raw_data, np.float32).reshape(2, 3, 3, 3), np.broadcast_to(sobel, (2, 3, 3, 3))
    )
    state = {k: v.numpy().copy() for k, v in module.state_dict().items()}
    state["edges.weight"][1, 2, 0, 0] += 0.5
    with pytest.raises(ValueError, match="edges.weight is not the fixed kernel"):
        to_onnx(net, weights=state)


def test_weights_transfer_between_torch_and_keras():
    """The buffer `blur.weight` is the Keras layer's non-trainable kernel; the trainable layer comes along."""
    net = cnndsl.loads(MIXED)
    torch.manual_seed(0)
    source, target = cnndsl.to_torch(net).eval(), cnndsl.to_keras(net)
    cnndsl.transfer_weights(source, target, net)
    x = PICTURE[None, :, :12, :12].astype(np.float32)
    want = source(torch.from_numpy(x)).detach().numpy()
    assert np.abs(run_keras(target, x) - want).max() < TOLERANCE
    back = cnndsl.to_torch(net).eval()
    for tensor in back.state_dict().values():  # buffers included: the fixed kernels must come back too
        tensor.zero_()
    cnndsl.transfer_weights(target, back, net)
    assert all(torch.equal(back.state_dict()[k], v) for k, v in source.state_dict().items())


# --- cnndsl apply ------------------------------------------------------------------------------------------------


def test_apply_writes_the_lecture_filters_as_a_grid(tmp_path):
    """End to end, as a teacher runs it: a grid of labelled pictures, the first the input itself."""
    picture = tmp_path / "photo.png"
    Image.fromarray(load_sample_image("china.jpg")[::8, ::8]).save(picture)  # 54×80
    out = tmp_path / "grid.png"
    run = subprocess.run(
        [sys.executable, "-m", "cnndsl", "apply", ARCH / "filters.cnn", "--image", picture, "-o", out],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout == f"wrote {out} (14×54×80 from 3×54×80)\n"
    grid = np.asarray(Image.open(out))
    original = np.asarray(Image.open(picture))
    # Six pictures in two rows of three, 8 pixels apart, each under a label strip as tall as the font plus 8.
    label = 12 + 8
    assert grid.shape == (2 * (label + 54) + 8, 3 * 80 + 2 * 8, 3)
    assert np.array_equal(grid[label : label + 54, :80], original)
    gaussian_tile = grid[label : label + 54, 2 * (80 + 8) :].astype(float) / 255
    blurred = scipy_reference(original.transpose(2, 0, 1) / 255, gaussian(7, 2.0), "per_channel", "same", 1)
    assert np.abs(gaussian_tile - blurred.transpose(1, 2, 0)).max() <= 0.5 / 255 + 1e-6  # rounded, not clipped
    sobel_tile = grid[2 * label + 54 + 8 :, 88 : 88 + 80]
    assert sobel_tile.min() == 0 and sobel_tile.max() == 255  # an edge map, stretched


def test_apply_single_channel_output_and_the_sample_image(tmp_path, monkeypatch, capsys):
    cnn = tmp_path / "edges.cnn"
    cnn.write_text("network edges { input(3, ?, ?); conv(1, 3, padding=same, weights=laplacian) }")
    monkeypatch.chdir(tmp_path)
    assert main(["apply", str(cnn)]) == 0  # no --image: scikit-learn's photograph, written here
    assert capsys.readouterr().out == "wrote china_edges.png (1×427×640 from 3×427×640)\n"
    image = Image.open(tmp_path / "china_edges.png")
    assert image.mode == "L" and image.size == (640, 427)


def test_apply_resizes_and_writes_next_to_the_image(tmp_path, capsys):
    picture = tmp_path / "photo.jpg"
    Image.fromarray(load_sample_image("flower.jpg")[::10, ::10]).save(picture)  # 43×64
    fixed = tmp_path / "blur.cnn"
    fixed.write_text("network blur { input(3, 16, 20); conv(3, 3, padding=same, groups=3, weights=box) }")
    assert main(["apply", str(fixed), "--image", str(picture)]) == 0  # to the size the file fixes
    assert Image.open(tmp_path / "photo_blur.png").size == (20, 16)
    assert main(["apply", str(ARCH / "filters.cnn"), "--image", str(picture), "--width", "32"]) == 0
    assert capsys.readouterr().out.endswith(
        "wrote " + str(tmp_path / "photo_filters.png") + " (14×22×32 from 3×22×32)\n"
    )


def test_apply_refuses(tmp_path, capsys):
    picture = tmp_path / "photo.png"
    Image.fromarray(load_sample_image("china.jpg")[::16, ::16]).save(picture)
    original = picture.read_bytes()
    trainable = tmp_path / "trainable.cnn"
    trainable.write_text("network t { input(3, ?, ?); blur: conv(3, 3, groups=3, weights=box); conv1: conv(8, 3) }")
    fixed_size = tmp_path / "fixed_size.cnn"
    fixed_size.write_text("network b { input(3, 8, 8); conv(3, 3, groups=3, weights=box) }")
    not_an_image = tmp_path / "notes.txt"
    not_an_image.write_text("hello")
    filters = str(ARCH / "filters.cnn")
    cases = [
        (["apply", filters, "--image", str(tmp_path / "missing.png")], "missing.png: no such image file"),
        (["apply", filters, "--image", str(not_an_image)], "notes.txt: not an image that Pillow can read"),
        (["apply", filters, "--image", str(picture), "-o", str(picture)], "refusing to overwrite the input file"),
        (["apply", filters, "--image", str(picture), "-o", str(tmp_path / "out.xyz")], "cannot tell the image format"),
        (["apply", str(trainable), "--image", str(picture)], "network t has trainable layers (conv1)"),
        (["apply", filters, "--image", str(picture), "--width", "0"], "--width must be at least 1"),
        (["apply", str(fixed_size), "--image", str(picture), "--width", "32"], "the network fixes the input size"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err
    assert picture.read_bytes() == original
