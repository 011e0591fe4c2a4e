"""Weights between the PyTorch and Keras models of one network, in either direction.

The two backends name every weight after the IR node it belongs to: the state_dict keys `{node}.weight`,
`.bias` (batch norm also `.running_mean`, `.running_var`) and the Keras layer `keras_names(net)[0][node.id]` with its
`kernel`, `bias` (`gamma`, `beta`, `moving_mean`, `moving_variance`). What differs is the layout:

- convolution kernels: PyTorch (out, in/groups, h, w), Keras (h, w, in/groups, out); depthwise ones
  (in·m, 1, h, w) and Keras' DepthwiseConv2D (h, w, in, m);
- transposed convolutions: PyTorch (in, out, h, w), Keras' Conv2DTranspose (h, w, out, in);
- dense layers: PyTorch (out, in), Keras (in, out);
- a vector flattened from a C×H×W map is ordered C·H·W in PyTorch and H·W·C in Keras (which keeps that
  order where only dense layers read the vector, see `channels_last_flattens`): the rows of the dense
  layers reading it are permuted, and so are the parameters of a batch norm between.

`num_batches_tracked` has no Keras counterpart: Keras to PyTorch leaves it as it is.

`cnndsl convert` carries a checkpoint file from one framework to the other with the same mapping.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from . import ops
from .backends.keras import channels_last_flattens, is_depthwise, keras_names
from .dispatch import Dispatcher
from .ir import Network, Node

_TRANSPARENT = {"dropout", "activation", "batchnorm"}  # keep a vector's order


def transfer_weights(source_model, target_model, net: Network) -> None:
    """Copy every weight of `source_model` into `target_model`: a PyTorch model into a Keras one, or the
    reverse (the type of `source_model` decides). Both must be models of `net` (`cnndsl.to_torch`,
    `cnndsl.to_keras`, or their emitted sources)."""
    if _is_torch(source_model):
        _torch_to_keras(source_model, target_model, net)
    elif _is_keras(source_model):
        _keras_to_torch(source_model, target_model, net)
    else:
        raise TypeError(f"expected a torch.nn.Module or a keras.Model, got {type(source_model).__name__}")


def _is_torch(model) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


def _is_keras(model) -> bool:
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(model, keras.Model)


def _torch_to_keras(torch_model, keras_model, net: Network) -> None:
    state = torch_model.state_dict()
    names, _ = keras_names(net)
    for node, chw in _parametric(net):
        layer = keras_model.get_layer(names[node.id])
        weights = []
        for key in _torch_keys(node, state):
            view, shape = _keras_layout(net, node, chw, state[key])
            weights.append(view.contiguous().numpy().reshape(shape))
        _check_shapes(node, [w.shape for w in weights], [tuple(v.shape) for v in layer.weights])
        layer.set_weights(weights)


def _keras_to_torch(keras_model, torch_model, net: Network) -> None:
    import torch

    state = torch_model.state_dict()
    names, _ = keras_names(net)
    with torch.no_grad():
        for node, chw in _parametric(net):
            keys = _torch_keys(node, state)
            arrays = keras_model.get_layer(names[node.id]).get_weights()
            layouts = [_keras_layout(net, node, chw, state[key]) for key in keys]
            _check_shapes(node, [shape for _, shape in layouts], [a.shape for a in arrays])
            for (view, _), array in zip(layouts, arrays):
                view.copy_(torch.from_numpy(array).reshape(view.shape))


def _torch_keys(node: Node, state) -> list[str]:
    if f"{node.name}.weight" not in state:
        raise KeyError(f"the PyTorch model has no '{node.name}.weight': is it a model of this network?")
    names = ["weight", "bias", "running_mean", "running_var"] if node.op.kind == "batchnorm" else ["weight", "bias"]
    return [f"{node.name}.{n}" for n in names if f"{node.name}.{n}" in state]


def _check_shapes(node: Node, want, got) -> None:
    if [tuple(s) for s in got] != [tuple(s) for s in want]:
        raise ValueError(f"'{node.name}': the Keras weights have shapes {got}, the PyTorch ones give {want}")


def _parametric(net: Network):
    """The nodes with weights, each with the C×H×W shape its input vector was flattened from where Keras'
    order of that vector differs from PyTorch's."""
    orders = _flattened(net)
    for node in net.nodes:
        if node.op.trainable:
            yield node, orders.get(node.inputs[0])


def _flattened(net: Network) -> dict[int, tuple[int, int, int]]:
    """Vector nodes in Keras' H·W·C order -> the C×H×W map they come from."""
    last = channels_last_flattens(net)
    out: dict[int, tuple[int, int, int]] = {}
    for node in net.nodes:
        kind = node.op.kind
        if kind == "flatten" and node.id in last:
            shape = net.nodes[node.inputs[0]].shape
            if len(shape) == 3 and shape[1] * shape[2] > 1:
                out[node.id] = shape
        elif kind in _TRANSPARENT and node.inputs[0] in out:
            out[node.id] = out[node.inputs[0]]
    return out


class _Layout(Dispatcher):
    """Per op kind with weights: a view of a PyTorch weight whose elements, in order, are the Keras weight's,
    and the Keras shape. `chw` is the C×H×W map a dense or batch norm's input vector was flattened from,
    where Keras orders that vector H·W·C."""

    WHAT = "weight transfer"

    def _no_weights(self, net, node, chw, tensor):
        raise AssertionError(f"{node.op.kind} has no weights")  # _parametric yields only trainable nodes

    TRANSFORMS = dict.fromkeys((k for k, cls in ops.REGISTRY.items() if not cls.trainable), _no_weights)

    def batchnorm(self, net, node, chw, tensor):  # all four per-feature vectors
        return (tensor, tuple(tensor.shape)) if chw is None else (tensor.view(chw).permute(1, 2, 0), (tensor.numel(),))

    def dense(self, net, node, chw, tensor):  # (out, in) -> (in, out), the inputs in H·W·C order after a flatten
        if tensor.dim() == 1:  # the bias
            return tensor, tuple(tensor.shape)
        shape = (tensor.shape[1], tensor.shape[0])
        return (tensor.t(), shape) if chw is None else (tensor.view(tensor.shape[0], *chw).permute(2, 3, 1, 0), shape)

    def conv(self, net, node, chw, tensor):
        if tensor.dim() == 1:  # the bias
            return tensor, tuple(tensor.shape)
        if is_depthwise(net, node):  # (in·m, 1, h, w) -> (h, w, in, m)
            view = tensor.view(node.op.groups, -1, *tensor.shape[2:]).permute(2, 3, 0, 1)
        else:  # conv (out, in/groups, h, w) -> (h, w, in/groups, out); transposed (in, out, h, w) -> (h, w, out, in)
            view = tensor.permute(2, 3, 1, 0)
        return view, tuple(view.shape)

    conv_transpose = conv


_LAYOUT = _Layout()


def _keras_layout(net: Network, node: Node, chw, tensor):
    return _LAYOUT.handler(node)(net, node, chw, tensor)


# --- cnndsl convert --------------------------------------------------------------------------------------


def cmd_convert(args) -> int:
    """`cnndsl convert FILE CHECKPOINT -o OUTPUT`: a PyTorch state_dict (.pt, .pth) becomes Keras weights
    (.weights.h5) for the network of FILE, or the reverse. Written atomically, as `compile` writes."""
    from .cli import UsageError, _load

    source, target = Path(args.checkpoint), Path(args.output)
    torch_suffixes = (".pt", ".pth")
    if source.suffix in torch_suffixes:
        to_keras = True
    elif source.name.endswith(".weights.h5"):
        to_keras = False
    else:
        raise UsageError(f"{source}: expected a PyTorch state_dict (.pt, .pth) or Keras weights (.weights.h5)")
    if to_keras != target.name.endswith(".weights.h5") or (not to_keras and target.suffix not in torch_suffixes):
        raise UsageError(f"{target}: the output must be {'Keras weights (.weights.h5)' if to_keras else 'a .pt file'}")
    if not source.is_file():
        raise UsageError(f"{source}: no such file")
    for given in (args.file, args.checkpoint):  # a .cnn file may be called anything, net.weights.h5 too
        if target.exists() and Path(given).exists() and target.resolve() == Path(given).resolve():
            raise UsageError(f"refusing to overwrite the input file {target}")
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():  # said before the networks are built, as write_atomic says it
        raise UsageError(f"directory {directory} does not exist")
    net = _load(args)
    import torch

    from .backends.keras import to_keras as keras_model_of
    from .backends.torch import to_torch

    torch_model, keras_model = to_torch(net), keras_model_of(net)
    try:
        if to_keras:
            torch_model.load_state_dict(torch.load(source, map_location="cpu", weights_only=True))
        else:
            keras_model.load_weights(source)
    except (RuntimeError, ValueError) as e:
        reason = str(e).splitlines()[0]
        raise UsageError(f"{source} does not hold the weights of network {net.name}: {reason}") from None
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".weights.h5" if to_keras else ".pt", dir=directory)
    os.close(fd)
    try:
        if to_keras:
            transfer_weights(torch_model, keras_model, net)
            keras_model.save_weights(tmp)
        else:
            transfer_weights(keras_model, torch_model, net)
            torch.save(torch_model.state_dict(), tmp)
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise
    return 0
