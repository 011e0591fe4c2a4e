"""`cnndsl import`: existing models become .cnn text, and networks compiled from it.

    net = cnndsl.from_torch(model, (3, 224, 224))
    print(net.to_cnn())

Each frontend (torch_fx) turns a model into the neutral `graph.Graph`; `writer.write` turns that into the
text a person would write; the text is compiled by the ordinary front end, so an imported `Network` is the
one a file holding that text gives.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from pathlib import Path

from ..errors import InputError, UsageError
from .graph import ImportRefused
from .writer import write

__all__ = ["ImportRefused", "from_keras", "from_onnx", "from_torch", "import_text", "load_source", "torch_text"]


def _snake(name: str) -> str:
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()
    s = re.sub(r"[^a-z0-9_]", "_", s).strip("_")
    return s if s and s[0].isalpha() else f"model_{s}"


def torch_text(module, input_shape, name: str | None = None, source: str = "") -> str:
    """The .cnn text of a torch `nn.Module` for inputs of `input_shape` (C, H, W)."""
    from .torch_fx import trace

    graph = trace(module, tuple(input_shape), name or _snake(type(module).__name__))
    return write(graph, source)


def _compiled(text: str, source: str, original_params: int | None = None):
    from ..compiler import loads

    net = loads(text, path=source or "<import>")
    if original_params is not None and net.params != original_params:
        raise InputError(
            f"the import of {source or 'the model'} has {net.params:,} parameters, the model {original_params:,}:"
            " a module the importer does not see (please report it)"
        )
    object.__setattr__(net, "_cnn_text", text)
    return net


def from_torch(module, input_shape, name: str | None = None):
    """A `Network` for a torch `nn.Module`: the module's own names as labels, so the network's PyTorch model
    loads `module.state_dict()`. `input_shape` is (C, H, W) or (features,), without the batch."""
    text = torch_text(module, input_shape, name)
    return _compiled(text, "", sum(p.numel() for p in module.parameters()))


def onnx_text(model_or_path, name: str | None = None, source: str = "") -> str:
    """The .cnn text of an ONNX model (a ModelProto or the path of a .onnx file)."""
    from .onnx import convert

    if name is None:
        name = _snake(Path(model_or_path).stem) if isinstance(model_or_path, (str, Path)) else "imported"
    return write(convert(model_or_path, name), source)


def from_onnx(model_or_path, name: str | None = None):
    """A `Network` for an ONNX model: its initializers' names as labels (`layer1.0.conv1.weight` makes
    `layer1.0.conv1`)."""
    return _compiled(onnx_text(model_or_path, name), "")


def from_keras(model):
    raise NotImplementedError("importing Keras models is not written yet (issue 17): see docs/import.md")


def load_source(source: str):
    """The `nn.Module` a SOURCE names: `package.module:callable` or `path/to/file.py:callable`, called with no
    arguments. UsageError for what cannot be found or called."""
    if source.endswith((".keras", ".pt2", ".pt", ".pth")) or source.startswith("keras.applications."):
        raise UsageError(
            f"cannot import {source}: this version imports PyTorch modules (package.module:callable or "
            "file.py:callable) and .onnx files (Keras and TorchScript/torch.export files are not supported yet)"
        )
    where, sep, attr = source.rpartition(":")
    if not sep or not where or not attr.isidentifier():
        raise UsageError(f"SOURCE must be package.module:callable or path/to/file.py:callable, not {source!r}")
    try:
        if where.endswith(".py"):
            path = Path(where)
            if not path.is_file():
                raise UsageError(f"{where}: no such file")
            spec = importlib.util.spec_from_file_location(f"_cnndsl_import_{path.stem}", path)
            mod = importlib.util.module_from_spec(spec)
            sys.path.insert(0, str(path.parent.resolve()))
            try:
                spec.loader.exec_module(mod)
            finally:
                sys.path.pop(0)
        else:
            mod = importlib.import_module(where)
    except UsageError:
        raise
    except ImportError as e:
        raise UsageError(f"cannot import {where}: {e}") from None
    except Exception as e:  # the user's module failed while it was imported
        raise UsageError(f"{where} failed while it was imported: {type(e).__name__}: {e}") from None
    factory = getattr(mod, attr, None)
    if not callable(factory):
        raise UsageError(f"{where} has no callable {attr!r}")
    try:
        model = factory()
    except Exception as e:
        raise UsageError(f"{source}() failed: {type(e).__name__}: {e}") from None
    import torch

    if not isinstance(model, torch.nn.Module):
        raise UsageError(f"{source}() returned {type(model).__name__}, not a torch.nn.Module")
    return model


def guess_input_shape(model) -> tuple[int, ...]:
    """(C, 224, 224) from the first convolution, or (features,) from a first dense layer."""
    import torch

    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            return (m.in_channels, 224, 224)
        if isinstance(m, torch.nn.Linear):
            return (m.in_features,)
    raise UsageError("cannot tell the input's shape: give --input-shape C,H,W")


def import_text(source: str, input_shape=None, name: str | None = None):
    """(.cnn text, a function giving the weights as a state_dict of the compiled network) for a SOURCE of the
    command line."""
    if source.endswith(".onnx"):
        if not Path(source).is_file():
            raise UsageError(f"{source}: no such file")
        import onnx

        try:
            model = onnx.load(source)
        except Exception as e:  # a file that is no ONNX model
            raise InputError(f"{source} is not an ONNX model: {e}") from None
        text = onnx_text(model, name or _snake(Path(source).stem), source)
        net = _compiled(text, source)
        return text, lambda: onnx_state_dict(model, net)
    model = load_source(source)
    shape = tuple(input_shape) if input_shape else guess_input_shape(model)
    text = torch_text(model, shape, name or _snake(type(model).__name__), source)
    _compiled(text, source, sum(p.numel() for p in model.parameters()))
    return text, model.state_dict


def onnx_state_dict(model, net) -> dict:
    """The ONNX model's initializers under the compiled network's state_dict keys (they are the same names);
    batch norm's step counters, which ONNX does not keep, are 0."""
    import torch
    from onnx import numpy_helper

    from ..backends.torch import to_torch

    arrays = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    state = to_torch(net).state_dict()
    for key in state:
        if key in arrays:
            state[key] = torch.from_numpy(arrays[key].copy()).reshape(state[key].shape)
        elif key.endswith("num_batches_tracked"):
            state[key] = torch.zeros((), dtype=torch.long)
        else:
            raise InputError(f"the ONNX model has no initializer {key!r} for the compiled network")
    return state
