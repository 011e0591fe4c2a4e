"""cnndsl: convolutional networks described as text, compiled to PyTorch, Keras, ONNX and diagrams.

    net = cnndsl.load("architectures/resnet34.cnn")
    print(net.summary())
    model = cnndsl.to_torch(net)

The front end (`load`, `loads`, the IR) needs only lark; pydantic is imported when an IR is read or written
as JSON (`Network.from_json`, `net.to_json()`). The backends are imported on first use, so `cnndsl check`
never pays for torch or tensorflow.
"""

from importlib import import_module

from .compiler import load, load_all, loads
from .errors import CnnDslError
from .ir import Network, Node, Scope

# public name -> module that defines it, imported when first asked for
_LAZY = {
    "to_torch": "cnndsl.backends.torch",
    "to_keras": "cnndsl.backends.keras",
    "to_onnx": "cnndsl.backends.onnx",
    "transfer_weights": "cnndsl.transfer",
    "render": "cnndsl.diagram",
}

__all__ = ["CnnDslError", "Network", "Node", "Scope", "load", "load_all", "loads", *_LAZY]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cnndsl' has no attribute {name!r}")
