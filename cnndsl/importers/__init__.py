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
import sys
from pathlib import Path

from ..errors import InputError, UsageError
from .graph import ImportRefused
from .writer import snake_name, write

__all__ = [
    "ImportRefused", "exported_text", "framework", "from_exported", "from_keras", "from_onnx", "from_torch",
    "import_text", "keras_text", "load_source", "torch_text",
]  # fmt: skip

# What `torch.save`, `torch.jit.save` and `torch.export.save` write: torch_export.load tells them apart.
PYTORCH_FILES = (".pt2", ".pt", ".pth")


def torch_text(module, input_shape, name: str | None = None, source: str = "") -> str:
    """The .cnn text of a torch `nn.Module` for inputs of `input_shape` (C, H, W)."""
    from .torch_fx import trace

    graph = trace(module, tuple(input_shape), name or snake_name(type(module).__name__, "model"))
    return write(graph, source)


def _compiled(text: str, source: str, original_params: int | None = None, buffers: bool = False):
    """The network compiled from `text`, checked to hold `original_params` parameters (with its buffers where
    `buffers`: Keras counts batch norm's statistics among its parameters)."""
    from ..compiler import loads

    net = loads(text, path=source or "<import>")
    params = net.params + net.buffers if buffers else net.params
    if original_params is not None and params != original_params:
        raise InputError(
            f"the import of {source or 'the model'} has {params:,} parameters, the model {original_params:,}:"
            " a module the importer does not see (please report it)"
        )
    object.__setattr__(net, "_cnn_text", text)
    return net


def from_torch(module, input_shape, name: str | None = None):
    """A `Network` for a torch `nn.Module`: the module's own names as labels, so the network's PyTorch model
    loads `module.state_dict()`. `input_shape` is (C, H, W) or (features,), without the batch."""
    text = torch_text(module, input_shape, name)
    return _compiled(text, "", sum(p.numel() for p in module.parameters()))


def exported_text(program, name: str | None = None, source: str = "") -> str:
    """The .cnn text of a `torch.export.ExportedProgram` (for the input shape it was exported with)."""
    from .torch_export import convert, default_name

    return write(convert(program, name or snake_name(default_name(program) or "imported", "model")), source)


def from_exported(program_or_path, name: str | None = None):
    """A `Network` for a torch.export program (an `ExportedProgram`, or the path of a .pt2 file): the
    program's state_dict keys as labels, so the network's PyTorch model loads `program.state_dict`."""
    from .torch_export import load, parameter_count

    program = load(program_or_path) if isinstance(program_or_path, (str, Path)) else program_or_path
    return _compiled(exported_text(program, name), "", parameter_count(program))


def onnx_text(model_or_path, name: str | None = None, source: str = "") -> str:
    """The .cnn text of an ONNX model (a ModelProto or the path of a .onnx file)."""
    from .onnx import convert

    if name is None:
        name = snake_name(Path(model_or_path).stem, "model") if isinstance(model_or_path, (str, Path)) else "imported"
    return write(convert(model_or_path, name), source)


def from_onnx(model_or_path, name: str | None = None):
    """A `Network` for an ONNX model: its initializers' names as labels (`layer1.0.conv1.weight` makes
    `layer1.0.conv1`)."""
    return _compiled(onnx_text(model_or_path, name), "")


def keras_text(model, name: str | None = None, source: str = "") -> str:
    """The .cnn text of a Keras 3 model."""
    from .keras import text

    return text(model, name or snake_name(model.name, "model"), source)


def from_keras(model, name: str | None = None):
    """A `Network` for a Keras 3 model: its layers' names as labels, so the network's Keras model has the same
    layer names and takes the model's weights (`importers.keras.keras_weights`)."""
    return _compiled(keras_text(model, name), "", model.count_params(), buffers=True)


def load_source(source: str):
    """The `nn.Module` a SOURCE names: `package.module:callable` or `path/to/file.py:callable`, called with no
    arguments. UsageError for what cannot be found or called."""
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


def load_keras(source: str, input_shape=None):
    """The Keras model a SOURCE names: a `.keras` file, or `keras.applications.NAME` (built with
    weights=None: no download)."""
    import os

    if source.endswith(".keras") and not Path(source).is_file():
        raise UsageError(f"{source}: no such file")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    if source.endswith(".keras"):
        try:
            return keras.saving.load_model(source, compile=False)
        except Exception as e:  # a file that is no Keras model, or one with custom layers
            raise InputError(f"{source} cannot be loaded as a Keras model: {type(e).__name__}: {e}") from None
    name = source.removeprefix("keras.applications.")
    factory = getattr(keras.applications, name, None)
    if not name.isidentifier() or not callable(factory):
        raise UsageError(f"keras.applications has no model {name!r}")
    kwargs = {"weights": None}
    if input_shape:
        c, *hw = input_shape
        kwargs["input_shape"] = (*hw, c)
    try:
        return factory(**kwargs)
    except Exception as e:
        raise UsageError(f"{source}() failed: {type(e).__name__}: {e}") from None


def framework(source: str) -> str:
    """The framework a SOURCE of the command line is a model of, named as its extra: keras, onnx or torch."""
    if source.endswith(".keras") or source.startswith("keras.applications."):
        return "keras"
    return "onnx" if source.endswith(".onnx") else "torch"


def import_text(source: str, input_shape=None, name: str | None = None):
    """(.cnn text, a function writing the model's weights for the compiled network to a .pt or .weights.h5
    path) for a SOURCE of the command line."""
    kind = framework(source)
    if kind == "keras":
        model = load_keras(source, input_shape)
        default = source.rsplit(".", 1)[-1] if source.startswith("keras.") else Path(source).stem
        text = keras_text(model, name or snake_name(default, "model"), source)
        net = _compiled(text, source, model.count_params(), buffers=True)
        return text, lambda path: save_keras_weights(model, net, path)
    if kind == "onnx":
        if not Path(source).is_file():
            raise UsageError(f"{source}: no such file")
        import onnx

        try:
            model = onnx.load(source)
        except Exception as e:  # a file that is no ONNX model
            raise InputError(f"{source} is not an ONNX model: {e}") from None
        text = onnx_text(model, name or snake_name(Path(source).stem, "model"), source)
        net = _compiled(text, source)
        return text, lambda path: save_state_dict(net, onnx_state_dict(model, net), path)
    if source.endswith(PYTORCH_FILES):
        return exported_import(source, input_shape, name)
    model = load_source(source)
    shape = tuple(input_shape) if input_shape else guess_input_shape(model)
    text = torch_text(model, shape, name or snake_name(type(model).__name__, "model"), source)
    net = _compiled(text, source, sum(p.numel() for p in model.parameters()))
    return text, lambda path: save_state_dict(net, model.state_dict(), path)


def exported_import(source: str, input_shape=None, name: str | None = None):
    """import_text for a PyTorch file: a torch.export program is imported; TorchScript, a state_dict or a
    pickled model is refused with what it is."""
    from ..backends.torch import to_torch
    from .torch_export import default_name, exported_shape, load, parameter_count, state_dict

    if not Path(source).is_file():
        raise UsageError(f"{source}: no such file")
    program = load(source)
    shape = exported_shape(program)
    if input_shape and tuple(input_shape) != shape:
        raise UsageError(
            f"{source} was exported for inputs of {','.join(map(str, shape))}, not "
            f"{','.join(map(str, input_shape))} (export it again for that shape)"
        )
    text = exported_text(program, name or snake_name(default_name(program) or Path(source).stem, "model"), source)
    net = _compiled(text, source, parameter_count(program))
    return text, lambda path: save_state_dict(net, state_dict(program, to_torch(net).state_dict()), path)


def save_state_dict(net, state_dict: dict, path: str) -> None:
    """Write a state_dict of `net` to `path`: as it is (.pt), or carried to its Keras model (.weights.h5)."""
    import io
    import tempfile

    import torch

    from ..files import write_atomic

    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    if not path.endswith(".weights.h5"):
        return write_atomic(path, buffer.getvalue(), [])
    from ..transfer import convert

    with tempfile.TemporaryDirectory() as tmp:
        pt = str(Path(tmp) / "weights.pt")
        Path(pt).write_bytes(buffer.getvalue())
        convert(net, pt, path, [])


def save_keras_weights(model, net, path: str) -> None:
    """Write the Keras `model`'s weights for `net` (its import) to `path`: as the weights of its Keras model
    (.weights.h5), or carried to its PyTorch model (.pt)."""
    import tempfile

    from ..backends.keras import to_keras
    from ..files import output_path
    from ..transfer import KERAS_SUFFIX, convert
    from .keras import keras_weights

    compiled = to_keras(net)
    keras_weights(model, compiled)
    if path.endswith(KERAS_SUFFIX):
        with output_path(path, [], KERAS_SUFFIX) as tmp:
            compiled.save_weights(tmp)
        return
    with tempfile.TemporaryDirectory() as tmp:
        h5 = str(Path(tmp) / f"weights{KERAS_SUFFIX}")
        compiled.save_weights(h5)
        convert(net, h5, path, [])


def onnx_state_dict(model, net) -> dict:
    """The ONNX model's initializers under the compiled network's state_dict keys (they are the same names);
    batch norm's step counters, which ONNX does not keep, are 0."""
    import torch
    from onnx import numpy_helper

    from ..backends.torch import to_torch
    from .onnx import weights

    arrays = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    # torch.onnx.export names a weight it folded or transposed `onnx::Conv_123`, `conv1.weight_bias`, `val_12`
    names = weights(model)
    state = to_torch(net).state_dict()
    keys = [k for k in state if not k.endswith("num_batches_tracked")]
    if not set(keys) <= set(names) | set(arrays) and len(keys) == len(names):
        # an nn.Sequential the exporter left a module out of (a batch norm folded into its convolution, a
        # dropout) is numbered anew in the import: its weights in order, where every shape agrees
        if all(tuple(state[k].shape) == names[t].shape for k, t in zip(keys, names, strict=True)):
            names = {k: names[t] for k, t in zip(keys, names, strict=True)}
    arrays |= names
    for key in state:
        if key in arrays:
            state[key] = torch.from_numpy(arrays[key].copy()).reshape(state[key].shape)
        elif key.endswith("num_batches_tracked"):
            state[key] = torch.zeros((), dtype=torch.long)
        else:
            raise InputError(f"the ONNX model has no initializer {key!r} for the compiled network")
    return state
