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

The source may be a state_dict rather than a model (torchvision's, say): only its keys and tensors are read,
so a Keras model gets PyTorch weights even for a network the PyTorch backend does not write.

`cnndsl convert` carries a checkpoint file from one framework to the other with the same mapping.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path

from . import ops
from .backends.keras import channels_last_flattens, is_depthwise, keras_names
from .dispatch import Dispatcher
from .errors import InputError, UsageError
from .files import check_output, output_path
from .ir import Network, Node

_TRANSPARENT = {"dropout", "activation", "batchnorm", "layernorm", "layer_scale"}  # keep a vector's order


def transfer_weights(source_model, target_model, net: Network) -> None:
    """Copy every weight of `source_model` into `target_model`: a PyTorch model (or its state_dict, a
    mapping of names to tensors) into a Keras one, or a Keras model into a PyTorch one (the type of
    `source_model` decides). Both must be models of `net` (`cnndsl.to_torch`, `cnndsl.to_keras`, or their
    emitted sources); a state_dict must have `net`'s keys and shapes (torchvision's, for the networks of
    architectures/ written as torchvision builds them)."""
    if _is_torch(source_model):
        _torch_to_keras(source_model.state_dict(), target_model, net)
    elif _is_state_dict(source_model):
        _torch_to_keras(source_model, target_model, net)
    elif _is_keras(source_model):
        _keras_to_torch(source_model, target_model, net)
    else:
        raise TypeError(f"expected a torch.nn.Module or a keras.Model, got {type(source_model).__name__}")


def _is_torch(model) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


def _is_state_dict(value) -> bool:
    torch = sys.modules.get("torch")
    return (
        torch is not None
        and isinstance(value, Mapping)
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())
    )


def _is_keras(model) -> bool:
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(model, keras.Model)


def _torch_to_keras(state, keras_model, net: Network) -> None:
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
    first = node.name if node.op.kind == "layer_scale" else f"{node.name}.weight"  # layer scale: a bare parameter
    if first not in state:
        raise KeyError(f"the PyTorch weights have no '{first}': are they a model of this network?")
    if node.op.kind == "layer_scale":
        return [first]
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

    layernorm = batchnorm  # gamma and beta, per channel

    def layer_scale(self, net, node, chw, tensor):  # torch's C×1×1 (to broadcast over N×C×H×W): Keras' C
        return self.batchnorm(net, node, chw, tensor.view(-1))

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


# --- checkpoints (cnndsl convert) -------------------------------------------------------------------------

TORCH_SUFFIXES = (".pt", ".pth")
KERAS_SUFFIX = ".weights.h5"
_EXPECTED = "a state_dict saved with torch.save(model.state_dict(), PATH)"


def direction(source: str, target: str) -> bool:
    """True to convert PyTorch to Keras, False for the reverse, as the files' names say; UsageError if they
    name no conversion."""
    source_path, target_path = Path(source), Path(target)
    if source_path.suffix in TORCH_SUFFIXES:
        to_keras = True
    elif source_path.name.endswith(KERAS_SUFFIX):
        to_keras = False
    else:
        raise UsageError(f"{source}: expected a PyTorch state_dict (.pt, .pth) or Keras weights (.weights.h5)")
    if to_keras != target_path.name.endswith(KERAS_SUFFIX) or (
        not to_keras and target_path.suffix not in TORCH_SUFFIXES
    ):
        raise UsageError(f"{target}: the output must be {'Keras weights (.weights.h5)' if to_keras else 'a .pt file'}")
    if not source_path.is_file():
        raise UsageError(f"{source}: no such file")
    return to_keras


def read_state_dict(source: str) -> dict:
    """The state_dict in a PyTorch checkpoint, read without running any code it holds (`weights_only`);
    InputError saying what the file is when it is not a state_dict."""
    import pickle
    import struct
    import warnings

    import torch

    try:
        with warnings.catch_warnings():  # torch warns of pickle protocols its safe unpickler may not know
            warnings.simplefilter("ignore")
            state = torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # torch's message advises weights_only=False, which would run the pickle's code: never repeated
        found = re.findall(r"GLOBAL ([\w.]+)", str(e)) or _pickle_globals(source)
        if found:
            raise InputError(
                f"{source}: a pickle that calls {found[0]} (code, or a whole model), not a state_dict of tensors; "
                f"expected {_EXPECTED} (cnndsl never runs a checkpoint's code)"
            ) from None
        raise InputError(
            f"{source}: not a PyTorch checkpoint (no pickle torch can read); expected {_EXPECTED}"
        ) from None
    # torch's safe unpickler asserts on some malformed archives (a storage named by an int, not a tuple)
    except (EOFError, struct.error, RuntimeError, ValueError, OSError, AttributeError, KeyError, IndexError,
            TypeError, AssertionError) as e:  # fmt: skip
        if isinstance(e, (EOFError, struct.error)):  # struct.error: a pickle opcode's argument is missing
            reason = "the file is empty" if Path(source).stat().st_size == 0 else "the file is cut short"
        else:
            reason = str(e).splitlines()[0][:200]
        raise InputError(f"{source}: not a PyTorch checkpoint ({reason}); expected {_EXPECTED}") from None
    if (
        not isinstance(state, dict)
        or not state
        or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())
    ):
        what = _describe(state)
        raise InputError(f"{source}: holds {what}, not a state_dict (names to tensors); expected {_EXPECTED}")
    return state


def _pickle_globals(source: str) -> list[str]:
    """The functions and classes a plain pickle file would call, read off its opcodes (nothing is run)."""
    import pickletools

    names, strings = [], []
    try:
        with open(source, "rb") as f:
            for op, arg, _ in pickletools.genops(f.read(1 << 20)):
                if op.name == "GLOBAL":
                    names.append(str(arg).replace(" ", "."))
                elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                    names.append(".".join(strings[-2:]))
                elif isinstance(arg, str):
                    strings.append(arg)
    except Exception:  # not a pickle, or cut short: what was read so far
        pass
    return names


def _describe(value) -> str:
    """What a checkpoint holds, in a few words: `None`, `a tensor of shape 3×4`, `a dict of 2 entries`."""
    import torch

    if value is None:
        return "None"
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {'×'.join(map(str, value.shape)) or 'scalar'}"
    if isinstance(value, dict):
        if not value:
            return "an empty dict"
        bad = next(k for k, v in value.items() if not (isinstance(k, str) and isinstance(v, torch.Tensor)))
        return f"a dict whose entry {str(bad)[:60]!r} is a {type(value[bad]).__name__}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"a {type(value).__name__}"


def convert(net: Network, source: str, target: str, inputs: list[str]) -> None:
    """Carry the checkpoint `source` for `net` to `target` (PyTorch to Keras or back, by `direction`),
    written as `files.output_path` writes. UsageError when `source` does not hold the weights of `net`."""
    to_keras = direction(source, target)
    check_output(target, inputs)  # said before the models are built
    state = read_state_dict(source) if to_keras else None
    import torch

    from .backends.keras import to_keras as keras_model_of
    from .backends.torch import to_torch

    torch_model, keras_model = to_torch(net), keras_model_of(net)
    try:
        if to_keras:
            torch_model.load_state_dict(state)
        else:
            keras_model.load_weights(source)
    except (RuntimeError, ValueError, OSError, KeyError, TypeError) as e:
        reason = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
        raise InputError(f"{source} does not hold the weights of network {net.name}: {reason}") from None
    with output_path(target, inputs, KERAS_SUFFIX if to_keras else ".pt") as tmp:
        if to_keras:
            transfer_weights(torch_model, keras_model, net)
            keras_model.save_weights(tmp)
        else:
            transfer_weights(keras_model, torch_model, net)
            torch.save(torch_model.state_dict(), tmp)
