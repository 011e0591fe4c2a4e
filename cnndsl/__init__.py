"""cnndsl: convolutional networks described as text, compiled to PyTorch, Keras, ONNX and diagrams.

    net = cnndsl.load("architectures/resnet34.cnn")
    print(net.summary())

The front end (this module, `load`, `loads`, the IR) needs only lark and pydantic; the backends are
imported when first used, so `cnndsl check` never pays for torch or tensorflow.
"""

from .compiler import load, load_all, loads
from .errors import CnnDslError
from .ir import Network, Node, Scope

__all__ = ["CnnDslError", "Network", "Node", "Scope", "load", "load_all", "loads"]
__version__ = "0.1.0"
