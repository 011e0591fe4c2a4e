"""ONNX backend: an `onnx.ModelProto` built straight from the IR with onnx.helper (no torch, no tensorflow).

Every IR node becomes one ONNX value named after it (`layer2.0.conv1`), computed by one ONNX node of the
same name, or by a short chain whose helper values and nodes are named `layer2.0.conv1/...`. The graph's
input is `input`; a layer labelled `input` too becomes the value `input_2` (`_valued`). Parameters are
initializers under PyTorch's state_dict keys (`layer2.0.conv1.weight`, `bn1.running_var`), so a state_dict
loads as it is. The batch dimension is the symbol `N`; sizes the IR leaves open keep its expressions
(`H//2+1`) as symbols, and every intermediate value carries its IR shape in value_info, which Netron shows
on the edges. Each node's doc_string says where it was written in the .cnn source.

Semantics are PyTorch's (inference mode): TensorFlow's split of `same` padding, ceil-mode and padded pools,
`align_corners`, torch's LocalResponseNorm window, adaptive pooling's variable windows.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .. import __version__, ops
from ..dispatch import Dispatcher
from ..ir import Network, Node
from ..summary import describe
from ..util import block_call

# The newest opset that changed an operator this backend emits (Conv, the pools, Dropout, Elu and HardSwish
# in 22; the pools' ceil_mode then took torch's rule). A higher opset gives the same graph for fewer runtimes.
DEFAULT_OPSET = 22
# Shape's start and end (for open sizes) appeared in 15, HardSwish in 14, Softmax over one axis in 13.
MIN_OPSET = 15
BATCH = "N"  # the symbolic batch dimension
SEED = 0  # default seed of the PyTorch-style initialisation


def to_onnx(
    net: Network, opset: int | None = None, weights: Mapping | None = None, *, seed: int = SEED
) -> onnx.ModelProto:
    """The network as an ONNX model.

    `weights` maps PyTorch state_dict keys (`conv1.weight`, `bn1.running_mean` ...) to arrays, in PyTorch's
    layouts; anything `np.asarray` takes will do. Without it, parameters are drawn as PyTorch initialises
    them, from a NumPy generator seeded with `seed`. The kernel of a fixed filter (`weights=` in the .cnn
    file) is its matrix either way: given weights must hold that matrix there.
    """
    opset = DEFAULT_OPSET if opset is None else opset
    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset {opset} is not supported: choose one from {MIN_OPSET} to {newest}")
    params = initial_weights(net, seed) if weights is None else _checked(weights, net)
    return _Builder(net, opset, params).model()


def onnx_from_torch(net: Network, module, opset: int | None = None) -> onnx.ModelProto:
    """The network as an ONNX model with the weights of a PyTorch module of the same network
    (`cnndsl.to_torch(net)`, or torchvision's model for the architectures written as torchvision builds them)."""
    state = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
    return to_onnx(net, opset, weights=state)


# --- parameters -------------------------------------------------------------------------------------------


def parameter_shapes(net: Network) -> dict[str, tuple[int, ...]]:
    """Every parameter and buffer, under its PyTorch state_dict key, in PyTorch's layout."""
    return {key: shape for key, shape, _ in _parameters(net)}


def initial_weights(net: Network, seed: int = SEED) -> dict[str, np.ndarray]:
    """PyTorch's default initialisation, drawn with NumPy: kaiming_uniform(a=√5) for weights, which is
    U(±1/√fan_in), the same bound for biases, and batch norm's ones, zeros, mean 0 and variance 1. A fixed
    filter's kernel is its matrix."""
    rng = np.random.Generator(np.random.SFC64(seed))  # NumPy's fastest generator: ResNet-152 has 60 M weights
    out = {}
    for key, shape, (kind, value) in _parameters(net):
        if kind == "uniform":
            w = rng.random(shape, dtype=np.float32)  # scaled in place: VGG's first dense layer has 10⁸ weights
            w *= 2 * value
            w -= value
            out[key] = w
        elif kind == "fixed":
            out[key] = _fixed(value, shape)
        else:
            out[key] = np.full(shape, value, np.float32)
    return out


def _fixed(matrix, shape: tuple[int, ...]) -> np.ndarray:
    """A fixed filter's kernel: the matrix for every output and input channel, as FixedConv2d holds it."""
    return np.broadcast_to(np.asarray(matrix, dtype=np.float32), shape).copy()


class _Parameters(Dispatcher):
    """Per op kind with weights: (state_dict key, shape, initialisation) of each parameter and buffer, where
    the initialisation is ("uniform", bound), ("constant", value) or ("fixed", matrix) for the kernel of a
    fixed filter."""

    WHAT = "backend onnx"

    def _none(self, net, node):
        return ()

    TRANSFORMS = dict.fromkeys((k for k, cls in ops.REGISTRY.items() if not cls.trainable), _none)

    def _weighted(self, node, shape, fixed=None):
        # torch's fan_in is weight.shape[1] × kernel area: output channels for a transposed convolution.
        init = ("uniform", 1 / math.sqrt(math.prod(shape[1:])))
        yield f"{node.name}.weight", shape, init if fixed is None else ("fixed", fixed)
        if node.op.use_bias:
            yield f"{node.name}.bias", (node.shape[0],), init

    def conv(self, net, node):
        op, cin = node.op, net.nodes[node.inputs[0]].shape[0]
        return self._weighted(node, (op.filters, cin // op.groups, *op.kernel_size), op.fixed_kernel())

    def conv_transpose(self, net, node):
        op, cin = node.op, net.nodes[node.inputs[0]].shape[0]
        return self._weighted(node, (cin, op.filters // op.groups, *op.kernel_size))

    def dense(self, net, node):
        return self._weighted(node, (node.op.units, net.nodes[node.inputs[0]].shape[0]))

    def batchnorm(self, net, node):
        c = node.shape[0]
        for key, value in (("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0)):
            yield f"{node.name}.{key}", (c,), ("constant", value)

    def layernorm(self, net, node):
        for key, value in (("weight", 1.0), ("bias", 0.0)):
            yield f"{node.name}.{key}", (node.shape[0],), ("constant", value)

    def layer_scale(self, net, node):  # a bare parameter, C×1×1 to broadcast over a map as torchvision's
        yield node.name, (node.shape[0], *(1 for _ in node.shape[1:])), ("constant", node.op.init)


def _parameters(net: Network):
    """(state_dict key, shape, initialisation) of every parameter and buffer, in node order."""
    table = _Parameters()
    for node in net.nodes:
        yield from table.handler(node)(net, node)


def _checked(weights: Mapping, net: Network) -> dict[str, np.ndarray]:
    """The given weights as float32 arrays, refusing a mapping that belongs to another network, or whose
    fixed kernels are not the .cnn file's (beyond float32 rounding)."""
    shapes = parameter_shapes(net)
    missing = [k for k in shapes if k not in weights]
    # torch's batch norm counts its updates; the count plays no part in inference.
    unexpected = [k for k in weights if k not in shapes and not k.endswith(".num_batches_tracked")]
    arrays = {k: np.asarray(weights[k], dtype=np.float32) for k in shapes if k in weights}
    wrong = [f"{k} is {tuple(a.shape)}, expected {shapes[k]}" for k, a in arrays.items() if a.shape != shapes[k]]
    wrong += [
        f"{k} is not the fixed kernel of the .cnn file"
        for k, shape, (kind, matrix) in _parameters(net)
        if kind == "fixed" and k in arrays and arrays[k].shape == shape
        and not np.allclose(arrays[k], _fixed(matrix, shape), rtol=1e-6, atol=1e-7)
    ]  # fmt: skip
    problems = []
    if missing:
        problems.append("missing: " + ", ".join(missing))
    if unexpected:
        problems.append("unexpected: " + ", ".join(unexpected))
    problems += wrong
    if problems:
        raise ValueError("the weights do not fit this network: " + "; ".join(problems))
    return arrays


# --- the graph ----------------------------------------------------------------------------------------------


def _plain(op_type: str):
    """An activation that is one ONNX operator of the same meaning."""
    return lambda self, x, out, name, alpha: self.emit(op_type, [x], out, name)


class _Builder(Dispatcher):
    WHAT = "backend onnx"

    def __init__(self, net: Network, opset: int, params: dict[str, np.ndarray]):
        self.net = net
        self.opset = opset
        self.params = params
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, np.ndarray] = {}
        self.doc = ""  # the doc_string of the IR node being lowered
        self.values = _valued(net)  # the nodes under their ONNX value names
        self.renamed = {v.name: n.name for n, v in zip(net.nodes, self.values) if v.name != n.name}

    def model(self) -> onnx.ModelProto:
        net = self.net
        values = self.values
        for node in values:
            self.doc = _doc_string(net, net.nodes[node.id])
            self.handler(node)(node, *(values[i] for i in node.inputs))
        first, last, root = values[0], values[net.output], net.scopes[0]
        graph = helper.make_graph(
            self.nodes,
            net.name,
            inputs=[_value_info(first, _doc_string(net, first))],
            outputs=[_value_info(last)] + [_value_info(values[i]) for i in net.extra_outputs],
            value_info=[_value_info(n, held_last=n.id in net.held_last) for n in values[1:] if n.id not in net.outputs],
            doc_string=f"{root.span.path}:{root.span.line}:{root.span.column}: network {net.name}",
        )
        opsets = [helper.make_opsetid("", self.opset)]
        model = helper.make_model(
            graph,
            opset_imports=opsets,
            ir_version=helper.find_min_ir_version_for(opsets),
            producer_name="cnndsl",
            producer_version=__version__,
            doc_string=f"{net.name}, compiled by cnndsl from {net.source}",
        )
        # Written straight into the model: copying VGG's half a gigabyte of weights from message to message
        # (numpy_helper.from_array, then make_graph) would take seconds.
        for name, array in self.initializers.items():
            tensor = model.graph.initializer.add()
            tensor.name = name
            tensor.data_type = helper.np_dtype_to_tensor_dtype(array.dtype)
            tensor.dims.extend(array.shape)
            tensor.raw_data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        args = json.dumps(net.args)
        helper.set_model_props(model, {"cnndsl.network": net.name, "cnndsl.source": net.source, "cnndsl.args": args})
        return model

    # --- helpers ---

    def emit(self, op_type: str, inputs: list[str], output: str, name: str | None = None, **attrs) -> str:
        """Append a node computing `output`; named after its output unless told otherwise."""
        self.nodes.append(
            helper.make_node(op_type, inputs, [output], name=name or output, doc_string=self.doc, **attrs)
        )
        return output

    def const(self, name: str, value) -> str:
        """A constant as an initializer, shared by name. Names other than state_dict keys hold a "/", which
        no IR name does."""
        if name not in self.initializers:
            self.initializers[name] = np.asarray(value)
        return name

    def param(self, key: str) -> str:
        node, _, suffix = key.rpartition(".")
        key = f"{self.renamed.get(node, node)}.{suffix}"  # the state_dict key of a renamed node's parameter
        return self.const(key, self.params[key])

    def weighted_inputs(self, node: Node, x: str) -> list[str]:
        inputs = [x, self.param(f"{node.name}.weight")]
        if node.op.use_bias:
            inputs.append(self.param(f"{node.name}.bias"))
        return inputs

    def before_activation(self, node: Node) -> str:
        """Where a layer with a fused activation writes its own result."""
        return node.name if node.op.activation is None else f"{node.name}/pre_activation"

    def apply_activation(self, function: str, alpha: float | None, x: str, out: str, name: str) -> None:
        self.ACTIVATIONS[function](self, x, out, name, alpha)

    def _relu6(self, x, out, name, alpha):
        self.emit(
            "Clip", [x, self.const("relu6/min", np.float32(0)), self.const("relu6/max", np.float32(6))], out, name
        )

    def _silu(self, x, out, name, alpha):
        self.emit("Mul", [x, self.emit("Sigmoid", [x], f"{name}/sigmoid")], out, name)

    def _gelu(self, x, out, name, alpha):
        if self.opset >= 20:
            self.emit("Gelu", [x], out, name, approximate="none")
            return
        # before opset 20: x · ½(1 + erf(x/√2)), torch's exact form
        scaled = self.emit("Div", [x, self.const("gelu/sqrt2", np.float32(math.sqrt(2)))], f"{name}/scaled")
        erf = self.emit("Erf", [scaled], f"{name}/erf")
        half = self.emit("Add", [erf, self.const("gelu/one", np.float32(1))], f"{name}/one_plus_erf")
        gated = self.emit("Mul", [x, half], f"{name}/gated")
        self.emit("Mul", [gated, self.const("gelu/half", np.float32(0.5))], out, name)

    # activation function -> (builder, x, out, node name, alpha)
    ACTIVATIONS = {
        **{
            f: _plain(t)
            for f, t in (("relu", "Relu"), ("sigmoid", "Sigmoid"), ("tanh", "Tanh"), ("hardswish", "HardSwish"))
        },
        "leaky_relu": lambda self, x, out, name, alpha: self.emit("LeakyRelu", [x], out, name, alpha=alpha),
        "elu": lambda self, x, out, name, alpha: self.emit("Elu", [x], out, name, alpha=alpha),
        # over channels, as torch's nn.Softmax(dim=1)
        "softmax": lambda self, x, out, name, alpha: self.emit("Softmax", [x], out, name, axis=1),
        # torch's relu6(x + 3) / 6 = clip(x / 6 + 1/2, 0, 1); ONNX's default alpha is Keras 2's 0.2
        "hardsigmoid": lambda self, x, out, name, alpha: self.emit(
            "HardSigmoid", [x], out, name, alpha=1 / 6, beta=0.5
        ),
        "relu6": _relu6,
        "silu": _silu,
        "gelu": _gelu,
    }

    def fused_activation(self, node: Node) -> None:
        if node.op.activation is not None:
            act = ops.Act(function=node.op.activation)  # with the default alpha of leaky_relu and elu
            self.apply_activation(
                act.function, act.alpha, f"{node.name}/pre_activation", node.name, f"{node.name}/{act.function}"
            )

    # --- one method per op kind ---

    def input(self, node: Node) -> None:
        pass  # the graph's input, made by model()

    def same_padding(self, node: Node, x: Node, kernel, strides, dilation=(1, 1)) -> dict | str:
        """TensorFlow's `same` padding of a window op (the odd pixel at the end): its attributes, or where the
        sizes are open and ONNX's SAME_UPPER falls short, a tensor of pads for a Pad node."""
        sizes = x.shape[1:]
        spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
        if all(isinstance(n, int) for n in sizes):
            (t, b), (le, r) = (ops.same_pads(n, k, s) for n, k, s in zip(sizes, spans, strides, strict=True))
            return {"pads": [t, le, b, r]}
        if dilation == (1, 1) and all(k >= s for k, s in zip(kernel, strides, strict=True)):
            # ONNX's SAME_UPPER is this rule, but onnxruntime refuses it with dilation, and where the kernel
            # is shorter than the stride ONNX's formula goes negative where TensorFlow's stops at 0.
            return {"auto_pad": "SAME_UPPER"}
        # From the sizes at run time: total = max(span - 1 - (n - 1) mod stride, 0), the smaller half first.
        p = f"{node.name}/same_padding/"
        last = self.emit(
            "Sub", [self.emit("Shape", [x.name], p + "size", start=2), self.const("const/one", np.int64(1))], p + "last"
        )
        rest = self.emit("Mod", [last, self.const(p + "strides", np.array(strides, np.int64))], p + "rest")
        needed = self.emit("Sub", [self.const(p + "span_minus_1", np.array(spans, np.int64) - 1), rest], p + "needed")
        total = self.emit("Max", [needed, self.const("const/zero", np.int64(0))], p + "total")
        begin = self.emit("Div", [total, self.const("const/two", np.int64(2))], p + "begin")
        end = self.emit("Sub", [total, begin], p + "end")
        no_pad = self.const("const/zeros_2", np.zeros(2, np.int64))
        return self.emit("Concat", [no_pad, begin, no_pad, end], p + "pads", axis=0)

    def pad(self, x: str, pads: str, value: float, out: str) -> str:
        return self.emit("Pad", [x, pads, self.const(f"pad/{value:g}", np.float32(value))], out)

    def conv(self, node: Node, x: Node) -> None:
        op: ops.Conv = node.op
        source, padding = x.name, {"pads": [*op.padding, *op.padding]}
        if op.padding == "same":
            padding = self.same_padding(node, x, op.kernel_size, op.strides, op.dilation)
            if isinstance(padding, str):
                source, padding = self.pad(x.name, padding, 0.0, f"{node.name}/padded"), {}
        self.emit(
            "Conv", self.weighted_inputs(node, source), self.before_activation(node), node.name,
            kernel_shape=list(op.kernel_size), strides=list(op.strides), dilations=list(op.dilation),
            group=op.groups, **padding,
        )  # fmt: skip
        self.fused_activation(node)

    def conv_transpose(self, node: Node, x: Node) -> None:
        op: ops.ConvTranspose = node.op
        if op.padding == "same":
            # Keras' `same` (output = in × strides) is the transpose of a `same` convolution: crop the full
            # output as that convolution pads its input (the odd pixel at the end), or, where the kernel is
            # shorter than the stride, extend it at the end.
            pads, extra = [], []
            for k, s, d in zip(op.kernel_size, op.strides, op.dilation, strict=True):
                total = d * (k - 1) + 1 - s
                crop = max(total, 0)
                pads.append((crop // 2, crop - crop // 2))
                extra.append(max(-total, 0))
            onnx_pads = [pads[0][0], pads[1][0], pads[0][1], pads[1][1]]
        else:
            onnx_pads = [*op.padding, *op.padding]
            extra = list(op.output_padding)
        self.emit(
            "ConvTranspose", self.weighted_inputs(node, x.name), self.before_activation(node), node.name,
            kernel_shape=list(op.kernel_size), strides=list(op.strides), dilations=list(op.dilation),
            group=op.groups, pads=onnx_pads, output_padding=extra,
        )  # fmt: skip
        self.fused_activation(node)

    def _pool(self, op_type: str, node: Node, x: Node, **attrs) -> None:
        op: ops.MaxPool | ops.AvgPool = node.op
        attrs.update(kernel_shape=list(op.pool_size), strides=list(op.strides))
        if op.padding != "same":
            ph, pw = op.padding
            self.emit(op_type, [x.name], node.name, pads=[ph, pw, ph, pw], ceil_mode=self._ceil_mode(node, x), **attrs)
            return
        padding = self.same_padding(node, x, op.pool_size, op.strides)  # the windows fit: ceil_mode is moot
        if not isinstance(padding, str):
            self.emit(op_type, [x.name], node.name, **padding, **attrs)
            return
        p = f"{node.name}/"
        if op_type == "MaxPool":
            self.emit(op_type, [self.pad(x.name, padding, -np.inf, p + "padded")], node.name, **attrs)
            return
        padded = self.pad(x.name, padding, 0.0, p + "padded")
        if op.count_include_pad:
            self.emit(op_type, [padded], node.name, **attrs)
            return
        mean = self.emit(op_type, [padded], p + "mean_with_padding", **attrs)
        # The padding was real zeros to the pool; divide by the share of each window that lies in the input.
        ones_shape = self.emit(
            "Concat",
            [self.const("const/ones_2", np.ones(2, np.int64)), self.emit("Shape", [x.name], p + "size", start=2)],
            p + "ones_shape",
            axis=0,
        )
        ones = self.emit(
            "ConstantOfShape", [ones_shape], p + "ones", value=numpy_helper.from_array(np.ones(1, np.float32))
        )
        share = self.emit(op_type, [self.pad(ones, padding, 0.0, p + "ones_padded")], p + "share_inside", **attrs)
        self.emit("Div", [mean, share], node.name)

    def _ceil_mode(self, node: Node, x: Node) -> int:
        """ONNX's ceil_mode for a pool. Until opset 22 ONNX keeps a last window that starts past the input and
        its left padding, which torch drops; where torch drops one, its size is floor mode's: ceil_mode=0."""
        op: ops.MaxPool | ops.AvgPool = node.op
        if not op.ceil_mode or self.opset >= 22:
            return int(op.ceil_mode)
        axes = list(zip(x.shape[1:], op.pool_size, op.strides, op.padding, strict=True))
        if all(isinstance(n, int) for n, *_ in axes):
            if node.shape[1:] == tuple(-(-(n + 2 * p - k) // s) + 1 for n, k, s, p in axes):
                return 1
            if node.shape[1:] == tuple((n + 2 * p - k) // s + 1 for n, k, s, p in axes):
                return 0
        elif all(p + s <= k for _, k, s, p in axes):  # no window can start in the right padding
            return 1
        at = node.span
        raise ValueError(
            f"{at.path}:{at.line}:{at.column}: {node.name}: before opset 22, ONNX's ceil_mode keeps a last pooling "
            "window that starts past the input and its left padding, which PyTorch drops; use opset 22 or later"
        )

    def maxpool(self, node: Node, x: Node) -> None:
        self._pool("MaxPool", node, x)

    def avgpool(self, node: Node, x: Node) -> None:
        self._pool("AveragePool", node, x, count_include_pad=int(node.op.count_include_pad))

    def global_avgpool(self, node: Node, x: Node) -> None:
        self.emit("GlobalAveragePool", [x.name], node.name)

    def global_maxpool(self, node: Node, x: Node) -> None:
        self.emit("GlobalMaxPool", [x.name], node.name)

    def adaptive_avgpool(self, node: Node, x: Node) -> None:
        sizes, out = x.shape[1:], node.op.output_size
        if all(isinstance(n, int) and n % o == 0 for n, o in zip(sizes, out, strict=True)):
            # Equal windows: an ordinary average pool.
            stride = [n // o for n, o in zip(sizes, out, strict=True)]
            self.emit("AveragePool", [x.name], node.name, kernel_shape=stride, strides=stride)
            return
        if out == (1, 1):
            self.emit("GlobalAveragePool", [x.name], node.name)
            return
        # torch's windows along an axis run from floor(i·n/o) to ceil((i+1)·n/o), so they vary in length.
        # The mean over a window is separable: Y = A_h · X · A_wᵀ, with A[i, j] = 1/len(window i) on window i.
        # Each matrix is a constant where the size is known, and computed from the input's shape otherwise.
        rows = self._window_matrix(node, x, 2, out[0], transposed=False)
        y = self.emit("MatMul", [rows, x.name], f"{node.name}/rows")
        cols = self._window_matrix(node, x, 3, out[1], transposed=True)
        self.emit("MatMul", [y, cols], node.name)

    def _window_matrix(self, node: Node, x: Node, axis: int, o: int, transposed: bool) -> str:
        """A (o, n) averaging matrix for the axis of size n (transposed: (n, o))."""
        name = f"{node.name}/{'cols' if transposed else 'rows'}_matrix"
        n = x.shape[axis - 1]
        if isinstance(n, int):
            a = np.zeros((o, n), np.float32)
            for i in range(o):
                start, end = i * n // o, -(-(i + 1) * n // o)
                a[i, start:end] = 1 / (end - start)
            return self.const(name, a.T if transposed else a)
        # The same matrix from the size at run time: row i averages j with i·n//o <= j < ((i+1)·n + o-1)//o.
        p = name + "/"
        i = self.const(p + "i", np.arange(o, dtype=np.int64).reshape((1, o) if transposed else (o, 1)))
        o_ = self.const(p + "o", np.int64(o))
        size = self.emit("Squeeze", [self.emit("Shape", [x.name], p + "shape", start=axis, end=axis + 1)], p + "n")
        start = self.emit("Div", [self.emit("Mul", [i, size], p + "i_n"), o_], p + "start")
        next_i = self.emit("Add", [i, self.const(p + "one", np.int64(1))], p + "next_i")
        next_n = self.emit("Mul", [next_i, size], p + "next_i_n")
        end = self.emit(
            "Div", [self.emit("Add", [next_n, self.const(p + "round_up", np.int64(o - 1))], p + "end_n"), o_], p + "end"
        )
        j = self.emit(
            "Range", [self.const(p + "zero", np.int64(0)), size, self.const(p + "one", np.int64(1))], p + "j_flat"
        )
        j = self.emit("Reshape", [j, self.const(p + "j_shape", np.array((-1, 1) if transposed else (1, -1)))], p + "j")
        after_start = self.emit("GreaterOrEqual", [j, start], p + "after_start")
        inside = self.emit("And", [after_start, self.emit("Less", [j, end], p + "before_end")], p + "inside")
        mask = self.emit("Cast", [inside], p + "mask", to=TensorProto.FLOAT)
        length = self.emit(
            "Cast", [self.emit("Sub", [end, start], p + "length_int")], p + "length", to=TensorProto.FLOAT
        )
        return self.emit("Div", [mask, length], name)

    def upsample(self, node: Node, x: Node) -> None:
        op: ops.Upsample = node.op
        if op.mode == "zeros":
            # Bed of nails: a transposed convolution whose kernel is 1 at its top-left corner and 0 elsewhere,
            # one channel at a time, puts each pixel at the corner of its cell and zeros around it, exactly.
            c = x.shape[0]
            kernel = np.zeros((c, 1, *op.scale), np.float32)
            kernel[:, :, 0, 0] = 1
            self.emit(
                "ConvTranspose", [x.name, self.const(f"{node.name}/nails", kernel)], node.name,
                kernel_shape=list(op.scale), strides=list(op.scale), group=c,
            )  # fmt: skip
            return
        scales = self.const(f"{node.name}/scales", np.array([1, 1, *op.scale], np.float32))
        if op.mode == "nearest":  # torch's legacy nearest: source index floor(out_index / scale)
            attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
        else:
            transform = "align_corners" if op.align_corners else "half_pixel"
            attrs = {"mode": "linear", "coordinate_transformation_mode": transform}
        self.emit("Resize", [x.name, "", scales], node.name, **attrs)

    def batchnorm(self, node: Node, x: Node) -> None:
        op: ops.BatchNorm = node.op
        keys = ("weight", "bias", "running_mean", "running_var")
        # ONNX's momentum weighs the old running value, torch's the new batch statistic.
        self.emit(
            "BatchNormalization", [x.name, *(self.param(f"{node.name}.{k}") for k in keys)], node.name,
            epsilon=op.eps, momentum=1 - op.momentum,
        )  # fmt: skip

    def lrn(self, node: Node, x: Node) -> None:
        op: ops.LocalResponseNorm = node.op
        if op.size % 2:
            self.emit("LRN", [x.name], node.name, size=op.size, alpha=op.alpha, beta=op.beta, bias=op.k)
            return
        # onnxruntime runs odd sizes only (and ONNX centres an even window one channel later than torch):
        # torch's own formula, x / (k + alpha · mean of x² over channels c - size/2 .. c + size/2 - 1) ** beta.
        p = f"{node.name}/"
        axis = self.const("lrn/axis", np.array([1], np.int64))
        squares = self.emit("Unsqueeze", [self.emit("Mul", [x.name, x.name], p + "square"), axis], p + "square_5d")
        mean = self.emit(
            "AveragePool", [squares], p + "window_mean", kernel_shape=[op.size, 1, 1],
            pads=[op.size // 2, 0, 0, (op.size - 1) // 2, 0, 0], count_include_pad=1,
        )  # fmt: skip
        scaled = self.emit(
            "Mul",
            [self.emit("Squeeze", [mean, axis], p + "mean"), self.const(p + "alpha", np.float32(op.alpha))],
            p + "scaled",
        )
        base = self.emit("Add", [scaled, self.const(p + "k", np.float32(op.k))], p + "base")
        divisor = self.emit("Pow", [base, self.const(p + "beta", np.float32(op.beta))], p + "divisor")
        self.emit("Div", [x.name, divisor], node.name)

    def dropout(self, node: Node, x: Node) -> None:
        # Kept as a node so the graph reads like the source; without training_mode it passes its input through.
        ratio = self.const(f"{node.name}/ratio", np.float32(node.op.rate))
        self.emit("Dropout", [x.name, ratio], node.name)

    def flatten(self, node: Node, x: Node) -> None:
        self.emit("Flatten", [x.name], node.name, axis=1)

    def dense(self, node: Node, x: Node) -> None:
        if len(node.shape) == 1:  # torch's Linear stores (out, in): Gemm multiplies by its transpose.
            self.emit("Gemm", self.weighted_inputs(node, x.name), self.before_activation(node), node.name, transB=1)
        else:  # on the last axis of a map held channels-last: x · Wᵀ (+ b), as torch's Linear
            x_, weight, *bias = self.weighted_inputs(node, x.name)
            p = f"{node.name}/"
            out = self.before_activation(node)
            transposed = self.emit("Transpose", [weight], p + "weight_t", perm=[1, 0])
            product = self.emit("MatMul", [x_, transposed], p + "product" if bias else out)
            if bias:
                self.emit("Add", [product, *bias], out)
        self.fused_activation(node)

    def activation(self, node: Node, x: Node) -> None:
        self.apply_activation(node.op.function, node.op.alpha, x.name, node.name, node.name)

    def concat(self, node: Node, *xs: Node) -> None:
        self.emit("Concat", [x.name for x in xs], node.name, axis=1)

    def add(self, node: Node, *xs: Node) -> None:
        self.emit("Add" if len(xs) == 2 else "Sum", [x.name for x in xs], node.name)

    def multiply(self, node: Node, *xs: Node) -> None:
        out = xs[0].name  # ONNX's Mul broadcasts as PyTorch's `*` does: a C×1×1 gate scales every position
        for k, x in enumerate(xs[1:], 1):
            out = self.emit("Mul", [out, x.name], node.name if k == len(xs) - 1 else f"{node.name}/product{k}")

    def chunk(self, node: Node, x: Node) -> None:
        size = node.shape[0]
        start, end = node.op.index * size, (node.op.index + 1) * size
        p = f"{node.name}/"
        bounds = [
            self.const(p + "start", np.array([start], np.int64)),
            self.const(p + "end", np.array([end], np.int64)),
        ]
        self.emit("Slice", [x.name, *bounds, self.const("const/axis_1", np.array([1], np.int64))], node.name)

    def channel_shuffle(self, node: Node, x: Node) -> None:
        # N×C×H×W -> N×g×(C/g)×(H·W) -> swap the two channel axes -> back to N×C×H×W
        g, c, p = node.op.groups, node.shape[0], f"{node.name}/"
        grouped = self.emit(
            "Reshape", [x.name, self.const(p + "groups", np.array([0, g, c // g, -1], np.int64))], p + "grouped"
        )
        swapped = self.emit("Transpose", [grouped], p + "transposed", perm=[0, 2, 1, 3])
        shape = self.emit("Shape", [x.name], p + "shape")
        self.emit("Reshape", [swapped, shape], node.name)

    def stochastic_depth(self, node: Node, x: Node) -> None:
        self.emit("Identity", [x.name], node.name)  # inference: the branch is always kept, unscaled

    # --- ConvNeXt: channels-last layers, layer norm, layer scale ---

    def channels_last(self, node: Node, x: Node) -> None:
        self.emit("Transpose", [x.name], node.name, perm=[0, 2, 3, 1])

    def channels_first(self, node: Node, x: Node) -> None:
        self.emit("Transpose", [x.name], node.name, perm=[0, 3, 1, 2])

    def layernorm(self, node: Node, x: Node) -> None:
        if len(node.shape) == 1 or node.id in self.net.held_last:  # the channels are the last axis
            self._layer_normalization(node, x.name, node.name)
            return
        # torchvision's LayerNorm2d: channels-last for the normalisation, then back
        p = f"{node.name}/"
        last = self.emit("Transpose", [x.name], p + "channels_last", perm=[0, 2, 3, 1])
        normed = self._layer_normalization(node, last, p + "normalized")
        self.emit("Transpose", [normed], node.name, perm=[0, 3, 1, 2])

    def _layer_normalization(self, node: Node, x: str, out: str) -> str:
        """Layer norm over the last axis: ONNX's LayerNormalization from opset 17, its formula before."""
        weight, bias, eps = self.param(f"{node.name}.weight"), self.param(f"{node.name}.bias"), node.op.eps
        if self.opset >= 17:
            return self.emit("LayerNormalization", [x, weight, bias], out, axis=-1, epsilon=eps)
        p = f"{out}/"
        centred = self.emit("Sub", [x, self.emit("ReduceMean", [x], p + "mean", axes=[-1])], p + "centred")
        variance = self.emit("ReduceMean", [self.emit("Mul", [centred, centred], p + "square")], p + "var", axes=[-1])
        shifted = self.emit("Add", [variance, self.const(p + "eps", np.float32(eps))], p + "var_eps")
        normed = self.emit("Div", [centred, self.emit("Sqrt", [shifted], p + "std")], p + "normed")
        return self.emit("Add", [self.emit("Mul", [normed, weight], p + "scaled"), bias], out)

    def layer_scale(self, node: Node, x: Node) -> None:
        key = self.renamed.get(node.name, node.name)  # the bare parameter's state_dict key
        self.emit("Mul", [x.name, self.const(key, self.params[key])], node.name)


def _valued(net: Network) -> list[Node]:
    """The nodes, each named as its ONNX value: its IR name, except where another node holds that name
    already (the input node is named `input`, and so is a layer labelled `input`), which gets the first free
    `NAME_2`, `NAME_3` ... ONNX wants every value named once; the graph's input stays `input`. A layer scale's
    parameter is named as the layer (torchvision's bare `layer_scale`), so its value is `layer_scale_2`."""
    taken = {n.name for n in net.nodes}
    seen = {n.name for n in net.nodes if n.op.kind == "layer_scale"}
    out = []
    for node in net.nodes:
        name = node.name
        if name in seen:
            k = 2
            while f"{name}_{k}" in taken:
                k += 1
            name = f"{name}_{k}"
            taken.add(name)
            node = dataclasses.replace(node, name=name)
        seen.add(name)
        out.append(node)
    return out


def _value_info(node: Node, doc_string: str = "", held_last: bool = False) -> onnx.ValueInfoProto:
    """The node's value with its IR shape: ints as dim_value, open sizes as dim_param expressions; N×H×W×C
    where it is held channels-last."""
    shape = (*node.shape[1:], node.shape[0]) if held_last else node.shape
    return helper.make_tensor_value_info(node.name, TensorProto.FLOAT, [BATCH, *shape], doc_string)


def _doc_string(net: Network, node: Node) -> str:
    """Where the node was written and, innermost first, the block calls it was expanded from."""
    s = node.span
    lines = [f"{s.path}:{s.line}:{s.column}: {node.name}: {describe(node.op)}"]
    lines += [f"{k} = {v}" for k, v in node.exprs.items()]
    for scope in reversed(net.scope_path(node)):
        if scope.kind == "block":
            at = scope.span
            lines.append(f"in {scope.name} = {block_call(scope)} at {at.path}:{at.line}:{at.column}")
    return "\n".join(lines)
