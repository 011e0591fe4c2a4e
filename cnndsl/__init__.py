"""cnndsl: convolutional networks described as text, compiled to PyTorch, Keras, ONNX and diagrams.

    net = cnndsl.load("architectures/resnet34.cnn")
    print(net.summary())
    model = cnndsl.to_torch(net)

The front end (`load`, `loads`, the IR) needs only lark; pydantic is imported when an IR is read or written
as JSON (`Network.from_json`, `net.to_json()`). The backends are imported on first use, so `cnndsl check`
never pays for torch or tensorflow.
"""

import functools
from importlib import import_module

from .compiler import load, load_all, loads
from .errors import CnnDslError
from .ir import Network, Node, Scope
from .util import extra_hint, missing_extra

# public name -> module that defines it, imported when first asked for
_LAZY = {
    "to_torch": "cnndsl.backends.torch",
    "to_keras": "cnndsl.backends.keras",
    "to_onnx": "cnndsl.backends.onnx",
    "transfer_weights": "cnndsl.transfer",
    "render": "cnndsl.diagram",
    "from_torch": "cnndsl.importers",
    "from_exported": "cnndsl.importers",
    "from_onnx": "cnndsl.importers",
    "from_keras": "cnndsl.importers",
}

__all__ = ["CnnDslError", "Network", "Node", "Scope", "load", "load_all", "loads", *_LAZY]
__version__ = "0.1.0"


# what each lazy function needs beyond the front end
_EXTRA = {
    "from_torch": "torch",
    "from_exported": "torch",
    "from_keras": "keras",
    "from_onnx": "onnx",
    "to_torch": "torch",
    "to_keras": "keras",
    "to_onnx": "onnx",
    "transfer_weights": "torch,keras",
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'cnndsl' has no attribute {name!r}")
    try:
        function = getattr(import_module(_LAZY[name]), name)
    except ImportError as e:
        raise _needs(name, e) from e
    if name not in _EXTRA:
        return function

    @functools.wraps(function)
    def checked(*args, **kwargs):  # the framework is imported on the first call
        try:
            return function(*args, **kwargs)
        except ImportError as e:
            if missing_extra(e) is None:
                raise
            raise _needs(name, e) from e

    globals()[name] = checked
    return checked


def _needs(name: str, e: ImportError) -> ImportError:
    extra = missing_extra(e, _EXTRA.get(name, "render"))
    return ImportError(f"cnndsl.{name} needs the [{extra}] extra: {extra_hint(extra)}", name=e.name)
