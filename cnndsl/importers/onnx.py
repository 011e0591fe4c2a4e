"""ONNX frontend: an ONNX graph becomes a neutral `Graph`.

Labels come from the names in the file: a weighted node's module is its weight's name without `.weight`
(`layer1.0.conv1.weight` → `layer1.0.conv1`, as torch and cnndsl name initializers), any other node's is its
own name where that is a dotted path (cnndsl's ONNX backend names every node so), else it is unlabelled. The
small subgraphs cnndsl's backend writes for one op (`Clip(0, 6)` for relu6, `x · Sigmoid(x)` for silu, a
fused activation after its layer) are read back as that op. Shapes come from onnx's shape inference.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from ..ops import same_pads
from .graph import GNode, Graph, ImportRefused, infer_shapes

_PLAIN = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSwish": "hardswish", "Gelu": "gelu"}
_PATH = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")


def load_model(model_or_path) -> onnx.ModelProto:
    if isinstance(model_or_path, onnx.ModelProto):
        return model_or_path
    return onnx.load(str(Path(model_or_path)))


def convert(model_or_path, name: str = "imported") -> Graph:
    model = load_model(model_or_path)
    return _Converter(model, name).graph()


class _Converter:
    def __init__(self, model: onnx.ModelProto, name: str):
        try:
            model = onnx.shape_inference.infer_shapes(model)
        except Exception:  # noqa: BLE001 - shapes are only a help for `same` padding
            pass
        self.g = model.graph
        self.name = name
        self.consts = {i.name: numpy_helper.to_array(i) for i in self.g.initializer}
        for n in self.g.node:
            if n.op_type == "Constant":
                for a in n.attribute:
                    if a.name == "value":
                        self.consts[n.output[0]] = numpy_helper.to_array(a.t)
        self.shapes = {}
        for v in [*self.g.input, *self.g.value_info, *self.g.output]:
            dims = v.type.tensor_type.shape.dim
            self.shapes[v.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)
        self.consumers: dict[str, list] = {}
        for n in self.g.node:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
        self.nodes: list[GNode] = []
        self.by_output: dict[str, GNode] = {}
        self.alias: dict[str, str] = {}
        self.problems: list[tuple[str, str]] = []
        self.skip: set[str] = set()

    def graph(self) -> Graph:
        inputs = [i for i in self.g.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise ImportRefused([(f"{len(inputs)} inputs", "graph")], self.name)
        inp = inputs[0].name
        shape = self.shapes.get(inp, ())[1:]
        if len(shape) not in (1, 3):
            raise ImportRefused([(f"an input of rank {len(shape) + 1}", inp)], self.name)
        shape = tuple(d if d else "?" for d in shape)
        for n in self.g.node:
            if n.op_type != "Constant" and n.name not in self.skip and id(n) not in self.skip:
                self.convert(n)
        if self.problems:
            raise ImportRefused(self.problems, self.name)
        outputs = [self.ref(o.name) for o in self.g.output]
        graph = Graph(self.name, inp, shape, self.nodes, outputs)
        infer_shapes(graph)
        return graph

    def ref(self, tensor: str) -> str:
        while tensor in self.alias:
            tensor = self.alias[tensor]
        return tensor

    def attrs(self, n) -> dict:
        return {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}

    def path(self, n, weight: str | None = None) -> str:
        if weight and weight.endswith(".weight"):
            return weight[: -len(".weight")]
        return n.name if n.name and "/" not in n.name and _PATH.fullmatch(n.name) else ""

    def add(self, n, kind: str, inputs: list[str], args: dict | None = None, path: str | None = None) -> GNode:
        p = self.path(n) if path is None else path
        scope = p.rsplit(".", 1)[0] if "." in p else ""
        g = GNode(n.output[0], kind, [self.ref(i) for i in inputs], args or {}, p, scope, where=n.name or n.op_type)
        self.nodes.append(g)
        self.by_output[g.name] = g
        return g

    def refuse(self, n, what: str) -> None:
        self.problems.append((what, n.name or n.output[0]))

    def const(self, name: str):
        return self.consts.get(name)

    def convert(self, n) -> None:
        op, a = n.op_type, self.attrs(n)
        method = getattr(self, f"op_{op}", None)
        if op in _PLAIN:
            if op == "Gelu" and a.get("approximate", b"none") not in ("none", b"none"):
                return self.refuse(n, "Gelu with the tanh approximation")
            return self.activation(n, _PLAIN[op], {})
        if method is None:
            return self.refuse(n, f"{op} (no .cnn op)")
        return method(n, a)

    def activation(self, n, kind: str, args: dict) -> None:
        x = self.ref(n.input[0])
        producer = self.by_output.get(x)
        # cnndsl's fused activation: the layer writes NAME/pre_activation, the activation NAME
        if (
            producer is not None and producer.kind in ("conv", "conv_transpose", "dense") and not args
            and x.endswith("/pre_activation") and n.output[0] == x[: -len("/pre_activation")]
        ):  # fmt: skip
            producer.args["activation"] = kind
            self.alias[n.output[0]] = producer.name
            return
        path = self.path(n)
        if "/" in n.name and n.output[0] and _PATH.fullmatch(n.output[0]):
            path = n.output[0]
        self.add(n, kind, [x], args, path)

    # --- one method per ONNX op ---

    def op_Conv(self, n, a) -> None:
        self.conv(n, a, "conv")

    def op_ConvTranspose(self, n, a) -> None:
        self.conv(n, a, "conv_transpose")

    def conv(self, n, a, kind: str) -> None:
        w = self.const(n.input[1])
        if w is None:
            return self.refuse(n, f"{n.op_type} with weights computed in the graph")
        groups = a.get("group", 1)
        filters = w.shape[0] if kind == "conv" else w.shape[1] * groups
        args = {"filters": int(filters), "kernel_size": tuple(int(k) for k in w.shape[2:])}
        strides = tuple(a.get("strides", (1, 1)))
        padding = self.padding(n, a, args["kernel_size"], strides, tuple(a.get("dilations", (1, 1))))
        if padding is None:
            return None
        more = {"strides": strides, "padding": padding}
        if kind == "conv_transpose":
            more["output_padding"] = tuple(a.get("output_padding", (0, 0)))
        more |= {"dilation": tuple(a.get("dilations", (1, 1))), "groups": groups, "use_bias": len(n.input) > 2}
        defaults = {"strides": (1, 1), "padding": (0, 0), "output_padding": (0, 0), "dilation": (1, 1),
                    "groups": 1, "use_bias": True}  # fmt: skip
        args |= {k: v for k, v in more.items() if defaults[k] != v}
        if kind == "conv" and len(n.input) == 2 and w.size > 1 and (w == w[:1, :1]).all():
            # one matrix for every channel: cnndsl's fixed filter (a trained kernel is never so)
            args.pop("use_bias", None)
            args["weights"] = tuple(tuple(float(v) for v in row) for row in w[0, 0])
        self.add(n, kind, [n.input[0]], args, self.path(n, n.input[1]))
        return None

    def padding(self, n, a, kernel, strides, dilation):
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto in ("SAME_UPPER",):
            return "same"
        if auto not in ("NOTSET", "VALID"):
            return self.refuse(n, f"auto_pad={auto}")
        t, le, b, r = a.get("pads", (0, 0, 0, 0))
        if (t, le) == (b, r):
            return (int(t), int(le))
        size = self.shapes.get(n.input[0], ())[2:]
        spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
        if len(size) == 2 and all(size):
            same = [same_pads(s, k, st) for s, k, st in zip(size, spans, strides, strict=True)]
            if [(t, b), (le, r)] == [tuple(p) for p in same]:
                return "same"
        return self.refuse(n, f"asymmetric padding {[t, le, b, r]}")

    def pool(self, n, a, kind: str) -> None:
        size = tuple(a["kernel_shape"])
        strides = tuple(a.get("strides", (1, 1)))
        padding = self.padding(n, a, size, strides, (1, 1))
        if padding is None:
            return None
        args = {"pool_size": size, **({"strides": strides} if strides != size else {})}
        if padding != (0, 0):
            args["padding"] = padding
        if a.get("ceil_mode", 0):
            args["ceil_mode"] = True
        if kind == "avgpool" and not a.get("count_include_pad", 0) and padding != (0, 0):
            args["count_include_pad"] = False
        self.add(n, kind, [n.input[0]], args)
        return None

    def op_MaxPool(self, n, a) -> None:
        if len(n.output) > 1 and n.output[1]:
            return self.refuse(n, "MaxPool with indices")
        return self.pool(n, a, "maxpool")

    def op_AveragePool(self, n, a) -> None:
        return self.pool(n, a, "avgpool")

    def op_GlobalAveragePool(self, n, a) -> None:
        self.add(n, "global_avgpool", [n.input[0]])

    def op_GlobalMaxPool(self, n, a) -> None:
        self.add(n, "global_maxpool", [n.input[0]])

    def op_BatchNormalization(self, n, a) -> None:
        args = {}
        eps, momentum = float(np.float32(a.get("epsilon", 1e-5))), round(1 - float(a.get("momentum", 0.9)), 6)
        eps = float(f"{eps:.6g}")
        if eps != 1e-5:
            args["eps"] = eps
        if momentum != 0.1:
            args["momentum"] = momentum
        self.add(n, "batchnorm", [n.input[0]], args, self.path(n, n.input[1].replace(".weight", "") + ".weight"))

    def op_Gemm(self, n, a) -> None:
        w = self.const(n.input[1])
        if w is None or a.get("transB", 0) != 1 or a.get("transA", 0) or a.get("alpha", 1.0) != 1.0:
            return self.refuse(n, "Gemm other than a dense layer (x · Wᵀ + b)")
        args = {"units": int(w.shape[0]), **({} if len(n.input) > 2 and n.input[2] else {"use_bias": False})}
        self.add(n, "dense", [n.input[0]], args, self.path(n, n.input[1]))
        return None

    def op_Flatten(self, n, a) -> None:
        if a.get("axis", 1) != 1:
            return self.refuse(n, f"Flatten(axis={a.get('axis')})")
        self.add(n, "flatten", [n.input[0]])
        return None

    def op_Dropout(self, n, a) -> None:
        ratio = self.const(n.input[1]) if len(n.input) > 1 and n.input[1] else a.get("ratio", 0.5)
        rate = float(f"{float(ratio if ratio is not None else 0.5):.6g}")
        self.add(n, "dropout", [n.input[0]], {} if rate == 0.5 else {"rate": rate})

    def op_LRN(self, n, a) -> None:
        args = {"size": a["size"]}
        for key, name, default in (("alpha", "alpha", 1e-4), ("beta", "beta", 0.75), ("bias", "k", 1.0)):
            value = float(f"{float(np.float32(a.get(key, default))):.6g}")
            if value != default:
                args[name] = value
        self.add(n, "lrn", [n.input[0]], args)

    def op_Concat(self, n, a) -> None:
        if a.get("axis") not in (1, -3):
            return self.refuse(n, f"Concat(axis={a.get('axis')})")
        self.add(n, "concat", list(n.input))
        return None

    def op_Add(self, n, a) -> None:
        if any(self.const(i) is not None for i in n.input):
            return self.refuse(n, "Add of a constant")
        self.add(n, "add", list(n.input))
        return None

    op_Sum = op_Add

    def op_Mul(self, n, a) -> None:
        x, y = n.input
        sig = self.by_output.get(self.ref(y))
        if sig is not None and sig.kind == "sigmoid" and sig.inputs == [self.ref(x)] and y.endswith("/sigmoid"):
            self.nodes.remove(sig)  # x · sigmoid(x), as cnndsl writes silu
            self.activation(n, "silu", {})
            return None
        if any(self.const(i) is not None for i in n.input):
            return self.refuse(n, "Mul by a constant")
        self.add(n, "multiply", [x, y])
        return None

    def op_Clip(self, n, a) -> None:
        lo = self.const(n.input[1]) if len(n.input) > 1 else a.get("min")
        hi = self.const(n.input[2]) if len(n.input) > 2 else a.get("max")
        if lo is None or hi is None or float(lo) != 0.0 or float(hi) != 6.0:
            return self.refuse(n, "Clip other than relu6 (0, 6)")
        self.activation(n, "relu6", {})
        return None

    def op_LeakyRelu(self, n, a) -> None:
        alpha = float(f"{float(np.float32(a.get('alpha', 0.01))):.6g}")
        self.activation(n, "leaky_relu", {} if alpha == 0.01 else {"alpha": alpha})

    def op_Elu(self, n, a) -> None:
        alpha = float(f"{float(np.float32(a.get('alpha', 1.0))):.6g}")
        self.activation(n, "elu", {} if alpha == 1.0 else {"alpha": alpha})

    def op_Softmax(self, n, a) -> None:
        if a.get("axis", -1) not in (1, -1):
            return self.refuse(n, f"Softmax(axis={a.get('axis')})")
        self.activation(n, "softmax", {})
        return None

    def op_HardSigmoid(self, n, a) -> None:
        if abs(a.get("alpha", 0.2) - 1 / 6) > 1e-6 or abs(a.get("beta", 0.5) - 0.5) > 1e-6:
            return self.refuse(n, "HardSigmoid other than relu6(x + 3) / 6")
        self.activation(n, "hardsigmoid", {})
        return None

    def op_Resize(self, n, a) -> None:
        scales = self.const(n.input[2]) if len(n.input) > 2 and n.input[2] else None
        mode = a.get("mode", b"nearest")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if scales is None or len(scales) != 4 or not all(float(s).is_integer() for s in scales[2:]):
            return self.refuse(n, "Resize other than by whole scales")
        transform = a.get("coordinate_transformation_mode", b"half_pixel")
        transform = transform.decode() if isinstance(transform, bytes) else transform
        args = {"scale": tuple(int(s) for s in scales[2:])}
        if mode == "linear":
            args["mode"] = "bilinear"
            if transform == "align_corners":
                args["align_corners"] = True
        elif mode != "nearest":
            return self.refuse(n, f"Resize in mode {mode}")
        if args["scale"] == (2, 2):
            del args["scale"]
        self.add(n, "upsample", [n.input[0]], args)
        return None
