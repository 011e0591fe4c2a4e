"""ONNX frontend: an ONNX graph becomes a neutral `Graph`.

Labels come from the names in the file: a weighted node's module is its weight's name without `.weight`
(`layer1.0.conv1.weight` → `layer1.0.conv1`, as torch and cnndsl name initializers), any other node's is its
own name where that is a dotted path (cnndsl's ONNX backend names every node so), else it is unlabelled. The
small subgraphs cnndsl's backend writes for one op (`Clip(0, 6)` for relu6, `x · Sigmoid(x)` for silu, a
fused activation after its layer) are read back as that op. Shapes come from onnx's shape inference.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from ..ops import same_pads
from .graph import OWN_LEAVES, GNode, Graph, ImportRefused, check_axes, infer_shapes

_PLAIN = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSwish": "hardswish", "Gelu": "gelu"}
_PATH = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
_PERMUTES = {(0, 2, 3, 1): "channels_last", (0, 3, 1, 2): "channels_first"}
_CONTAINERS = {"Sequential", "ModuleList", "ModuleDict"}


def _constant(n):
    """The value of a Constant node (None for a sparse or string one: refused where it is read)."""
    a = n.attribute[0] if n.attribute else None
    if a is not None and a.name == "value":
        return numpy_helper.to_array(a.t)
    if a is None or a.name not in ("value_int", "value_ints", "value_float", "value_floats"):
        return None
    value = onnx.helper.get_attribute_value(a)
    return np.array(value, np.int64 if a.name.startswith("value_int") else np.float32)


def _inferred(model: onnx.ModelProto, folded: dict) -> list:
    """The value_info of onnx's shape inference, with data propagation (torch.onnx.export computes shapes
    with `Shape`, `Gather`, `Concat` ...), the `folded` values given as constants. It runs on a copy whose
    weights are graph inputs of their type and shape: inference reads only that of a weight, and serialising
    the weights' data dominated its time."""
    g = model.graph
    nodes = [n for n in g.node if n.output[0] not in folded]
    consts = [numpy_helper.from_array(np.asarray(v), k) for k, v in folded.items()]
    inputs = {i.name for i in g.input}
    big = [i for i in g.initializer if np.prod(i.dims) > 64]  # small ones may be shapes, read as values
    weights = [onnx.helper.make_tensor_value_info(i.name, i.data_type, i.dims) for i in big if i.name not in inputs]
    small = [i for i in g.initializer if np.prod(i.dims) <= 64]
    light = onnx.helper.make_model(
        onnx.helper.make_graph(nodes, g.name, [*g.input, *weights], list(g.output), [*small, *consts]),
        opset_imports=model.opset_import, ir_version=model.ir_version, functions=model.functions,
    )  # fmt: skip
    try:
        return list(onnx.shape_inference.infer_shapes(light, data_prop=True).graph.value_info)
    except Exception:  # noqa: BLE001 - shapes are only a help (`same` padding, shuffles, flattens)
        return list(model.graph.value_info)


def _literal(text: str) -> list:
    import ast

    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return []
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else []


def load_model(model_or_path) -> onnx.ModelProto:
    if isinstance(model_or_path, onnx.ModelProto):
        return model_or_path
    return onnx.load(str(Path(model_or_path)))


def convert(model_or_path, name: str = "imported") -> Graph:
    model = load_model(model_or_path)
    return _Converter(model, name).graph()


def weights(model: onnx.ModelProto) -> dict:
    """The imported network's state_dict keys -> their values, for the weights the file holds under another
    name (or stored transposed, or in a Constant node)."""
    converter = _Converter(model, "imported")
    converter.graph()
    return {key: converter.consts[t].T if transposed else converter.consts[t] for key, (t, transposed) in
            converter.keys.items()}  # fmt: skip


class _Converter:
    def __init__(self, model: onnx.ModelProto, name: str):
        self.model, self.g = model, model.graph
        self.name = name
        self.consts = {i.name: numpy_helper.to_array(i) for i in self.g.initializer}
        self.initializers = set(self.consts)  # the model's weights (a Constant node's value is none)
        self.shapes, self.types, self.folded = {}, {}, set()
        self.sequences: dict[str, tuple[str, int]] = {}  # a SplitToSequence's output -> (its input, parts)
        self.same: dict[str, str] = {}  # a weight the exporter merged with an equal one -> that one
        # shapes and constants, in turn until neither grows: a shape that is known makes its `Shape` a
        # constant, and a constant that is known (a ReduceMean's axes, a Slice's ends) makes shapes known
        for _ in range(8):
            for v in [*self.g.input, *_inferred(model, {k: self.consts[k] for k in self.folded}), *self.g.output]:
                dims = v.type.tensor_type.shape.dim
                self.shapes[v.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)
                self.types[v.name] = v.type.tensor_type.elem_type
            folded = self.fold()
            if folded <= self.folded:
                break
            self.folded |= folded
        self.keys: dict[str, tuple[str, bool]] = {}  # state_dict key -> (initializer, stored transposed)
        self.consumers: dict[str, list] = {}
        self.producer: dict[str, object] = {}
        for n in self.g.node:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
            for o in n.output:
                self.producer[o] = n
        self.outputs = {o.name for o in self.g.output}
        self.modules, self.classes = self.scopes()
        self.transposed: dict[str, str] = {}  # a transposed initializer -> the initializer (a dense layer's weight)
        self.axis: dict[str, str] = {}  # a layer norm -> the axis it normalises: "last", or "channels" (NCHW)
        self.scales: dict[str, tuple] = {}  # a layer scale -> its initializer's shape
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
            if n.output[0] not in self.folded and n.output[0] not in self.skip:
                self.convert(n)
        if self.problems:
            raise ImportRefused(self.problems, self.name)
        outputs = [self.ref(o.name) for o in self.g.output]
        sequential = {p for p, c in self.classes.items() if c in ("Sequential", "ModuleList")}
        graph = Graph(self.name, inp, shape, self.nodes, outputs, self.classes, sequential)
        check_axes(graph, infer_shapes(graph), self.axis, self.scales)
        return graph

    def fold(self) -> set[str]:
        """Compute what is constant: Constant nodes, and the shape arithmetic torch.onnx.export writes
        (`Shape` of a value whose shape is static, `CastLike` of a constant, `Gather`, `Concat`, `Expand` ... of
        constants), with onnx's reference implementation of each op. A node reading a weight's values is
        not folded (a weight stays an initializer, read as the layer it belongs to). Returns the outputs."""
        from onnx.reference import ReferenceEvaluator

        folded, opsets = set(), list(self.model.opset_import)
        for n in self.g.node:
            value = None
            if n.output[0] in self.folded:
                folded.add(n.output[0])
                continue
            if n.op_type == "Constant":
                value = _constant(n)
                if value is not None and value.dtype.kind == "f" and value.size > 1:  # a weight in a node
                    self.initializers.add(n.output[0])
            elif n.op_type == "Shape" and (n.input[0] in self.consts or all(self.shapes.get(n.input[0], (None,)))):
                shape = self.consts[n.input[0]].shape if n.input[0] in self.consts else self.shapes[n.input[0]]
                a = self.attrs(n)
                value = np.array(shape[a.get("start", 0) : a.get("end", len(shape))], np.int64)
            elif n.op_type == "Identity" and n.input[0] in self.initializers:
                # the TorchScript exporter's merged weights: `layer.weight = Identity(other.weight)`
                self.initializers.add(n.output[0])
                self.same[n.output[0]] = self.same.get(n.input[0], n.input[0])
                value = self.consts[n.input[0]]
            elif n.op_type == "CastLike" and n.input[0] in self.consts and self.types.get(n.input[1]):
                dtype = onnx.helper.tensor_dtype_to_np_dtype(self.types[n.input[1]])
                value = self.consts[n.input[0]].astype(dtype)
            elif n.input and all(i in self.consts and i not in self.initializers for i in n.input if i):
                inputs = [onnx.helper.make_tensor_value_info(i, onnx.TensorProto.UNDEFINED, None) for i in n.input if i]
                outputs = [onnx.helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in n.output]
                graph = onnx.helper.make_graph([n], "fold", inputs, outputs)
                try:
                    evaluator = ReferenceEvaluator(onnx.helper.make_model(graph, opset_imports=opsets))
                    value = evaluator.run(None, {i: self.consts[i] for i in n.input if i})[0]
                except Exception:  # noqa: BLE001 - not foldable: read (or refused) as an op
                    value = None
            if value is not None and len(n.output) == 1:
                self.consts[n.output[0]] = np.asarray(value)
                folded.add(n.output[0])
        return folded

    def scopes(self) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
        """Each node's (module path, enclosing module path) and each module's class, from what
        torch.onnx.export records: the dynamo exporter's `pkg.torch.onnx.name_scopes` and `class_hierarchy`
        metadata (full paths and classes), or the TorchScript exporter's node names
        (`/layer1/layer1.0/conv1/Conv`: paths only). A node made by a torch.nn module (ReLU, MaxPool2d) has
        that module's path; a function (`out += identity`) none, in the module whose forward runs it."""
        modules, classes, legacy, unplaced = {}, {}, {}, []
        for n in self.g.node:
            meta = {p.key: p.value for p in n.metadata_props}
            if "pkg.torch.onnx.name_scopes" in meta:
                names = _literal(meta["pkg.torch.onnx.name_scopes"])
                kinds = _literal(meta.get("pkg.torch.onnx.class_hierarchy", "[]"))
                if len(names) == len(kinds) and len(names) >= 2:
                    for path, cls in zip(names[:-1], kinds[:-1], strict=True):
                        classes.setdefault(path, cls.rsplit(".", 1)[-1])
                    path, cls = names[-2], kinds[-2]
                    kind = cls.rsplit(".", 1)[-1]
                    leaf = kind in OWN_LEAVES or cls.startswith("torch.nn.") and kind not in _CONTAINERS
                    modules[n.name] = (path, path.rsplit(".", 1)[0] if "." in path else "") if leaf else ("", path)
            elif n.name.startswith("/"):  # `/MaxPool`: in the model's own forward
                path = last = ""
                for part in n.name.split("/")[1:-1]:
                    # a child of an nn.Sequential is named after it: `layer1` holds `layer1.0`, `block.0` `block.0.0`
                    if last and part.startswith(f"{last}."):
                        path += part[len(last) :]
                    else:
                        path = f"{path}.{part}" if path else part
                    last = part
                legacy[n.name] = path
            else:
                unplaced.append(n)
        # the TorchScript exporter keeps no classes: a module whose nodes hold no deeper module is a leaf
        inner = {p[:k] for p in legacy.values() for k, c in enumerate(p) if c == "."}
        for node, path in legacy.items():
            parent = path.rsplit(".", 1)[0] if "." in path else ""
            modules[node] = (path, parent) if path not in inner else ("", path)
        for n in reversed(unplaced if classes else []):  # one the exporter's optimiser wrote (a chunk's Split):
            readers = [modules[c.name][1].split(".") for c in self.consumers.get(n.output[0], []) if c.name in modules]
            common = [p[0] for p in itertools.takewhile(lambda p: len(set(p)) == 1, zip(*readers))]  # theirs
            modules[n.name] = ("", ".".join(common))
        return modules, classes

    def ref(self, tensor: str) -> str:
        while tensor in self.alias:
            tensor = self.alias[tensor]
        return tensor

    def attrs(self, n) -> dict:
        return {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}

    def path(self, n, weight: str | None = None) -> str:
        # a weight read by several nodes: equal initializers merged by the exporter (fresh layer norms' ones)
        shared = weight and len(self.consumers.get(weight, [])) > 1 and n.name in self.modules
        if weight and weight.endswith(".weight") and _PATH.fullmatch(weight) and not shared:
            return weight[: -len(".weight")]
        if n.name in self.modules:
            return self.modules[n.name][0]
        return n.name if n.name and "/" not in n.name and _PATH.fullmatch(n.name) else ""

    def weight(self, n, path: str, suffix: str, tensor: str, transposed: bool = False) -> None:
        """Record that the state_dict key `path.suffix` is the initializer `tensor` (torch.onnx.export names a
        folded or transposed weight `onnx::Conv_123`, `conv1.weight_bias`, `val_12`)."""
        if path and tensor in self.initializers:
            self.keys[f"{path}.{suffix}"] = (self.same.get(tensor, tensor), transposed)

    def add(self, n, kind: str, inputs: list[str], args: dict | None = None, path: str | None = None,
            output: str | None = None) -> GNode:  # fmt: skip
        p = self.path(n) if path is None else path
        scope = p.rsplit(".", 1)[0] if "." in p else ""
        if not p and n.name in self.modules:
            scope = self.modules[n.name][1]
        g = GNode(output or n.output[0], kind, [self.ref(i) for i in inputs], args or {}, p, scope,
                  where=n.name or n.op_type)  # fmt: skip
        self.nodes.append(g)
        self.by_output[g.name] = g
        return g

    def refuse(self, n, what: str) -> None:
        self.problems.append((what, n.name or n.output[0]))

    def const(self, name: str):
        return self.consts.get(name)

    def user(self, tensor: str, op_type: str | tuple = ()):
        """The one node that reads `tensor` (of that type, if given), where only it does and it is no output."""
        users = self.consumers.get(tensor, [])
        if len(users) != 1 or tensor in self.outputs:
            return None
        if op_type and users[0].op_type not in ((op_type,) if isinstance(op_type, str) else op_type):
            return None
        return users[0]

    def scalar(self, tensor: str) -> float | None:
        value = self.const(tensor)
        return float(value) if value is not None and value.size == 1 else None

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

    def activation(self, n, kind: str, args: dict, x: str | None = None) -> None:
        x = self.ref(x or n.input[0])
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

    # --- patterns: the few nodes an exporter writes for one .cnn op ---

    def layer_norm_at(self, n):
        """(nodes, weight, bias, eps) of a layer norm over the last axis that starts at `n`: ONNX's
        LayerNormalization, or its formula as written before opset 17 (mean, centre, variance, eps, square
        root, divide, scale, shift); None if `n` starts neither."""
        if n.op_type == "LayerNormalization":
            a = self.attrs(n)
            if a.get("axis", -1) != -1 or len(n.input) < 3 or len([o for o in n.output if o]) != 1:
                return None
            return [n], n.input[1], n.input[2], float(a.get("epsilon", 1e-5))
        if n.op_type != "ReduceMean" or not self.last_axis_mean(n):
            return None
        x = n.input[0]
        sub = self.user(n.output[0], "Sub")
        if sub is None or list(sub.input) != [x, n.output[0]]:
            return None
        users = list({u.output[0]: u for u in self.consumers.get(sub.output[0], [])}.values())  # Mul(c, c) once
        square = next((u for u in users if u.op_type in ("Mul", "Pow")), None)
        div = next((u for u in users if u.op_type == "Div"), None)
        if len(users) != 2 or square is None or div is None or list(div.input)[0] != sub.output[0]:
            return None
        if square.op_type == "Mul" and list(square.input) != [sub.output[0]] * 2:
            return None
        if square.op_type == "Pow" and self.scalar(square.input[1]) != 2.0:
            return None
        var = self.user(square.output[0], "ReduceMean")
        add = var and self.last_axis_mean(var) and self.user(var.output[0], "Add")
        sqrt = add and self.user(add.output[0], "Sqrt")
        if not sqrt or self.scalar(add.input[1]) is None or list(div.input) != [sub.output[0], sqrt.output[0]]:
            return None
        scale = self.user(div.output[0], "Mul")
        shift = scale and self.user(scale.output[0], "Add")
        if not shift or self.const(scale.input[1]) is None or self.const(shift.input[1]) is None:
            return None
        eps = float(f"{float(np.float32(self.scalar(add.input[1]))):.6g}")
        return [n, sub, square, div, var, add, sqrt, scale, shift], scale.input[1], shift.input[1], eps

    def last_axis_mean(self, n) -> bool:
        axes = self.attrs(n).get("axes")
        if axes is None and len(n.input) > 1:
            axes = self.const(n.input[1])
        return axes is not None and [int(v) for v in np.ravel(axes)] in ([-1], [3]) and self.attrs(n).get(
            "keepdims", 1)  # fmt: skip

    def layer_norm(self, nodes, weight, bias, eps, x: str, last) -> None:
        """One `layernorm` for the nodes that compute it, named as `last`'s output."""
        if weight not in self.initializers or bias not in self.initializers:
            return self.refuse(nodes[0], "a layer norm whose weights are computed in the graph")
        self.skip.update(o for m in nodes for o in m.output)
        eps = float(f"{float(np.float32(eps)):.6g}")
        path = self.path(last, weight)
        scope = self.modules.get(last.name, ("", ""))[1]
        if not path and scope and sum(m[1] == scope for m in self.modules.values()) == len(nodes):
            path = scope  # the nodes are all its module does: torchvision's LayerNorm2d
        self.weight(last, path, "weight", weight)
        self.weight(last, path, "bias", bias)
        g = self.add(last, "layernorm", [x], {} if eps == 1e-5 else {"eps": eps}, path)
        self.axis[g.name] = "channels" if nodes[0].op_type == "Transpose" else "last"
        return None

    def op_LayerNormalization(self, n, a) -> None:
        return self.op_ReduceMean(n, a)

    def op_ReduceMean(self, n, a) -> None:
        axes = a.get("axes")
        if axes is None and len(n.input) > 1:
            axes = self.const(n.input[1])
        rank = len(self.shapes.get(n.input[0], ()))
        if rank == 4 and axes is not None and sorted(int(v) % 4 for v in np.ravel(axes)) == [2, 3]:
            # x.mean((2, 3), keepdim=True), and nn.AdaptiveAvgPool2d(1) as torch.onnx.export writes it
            if a.get("keepdims", 1):
                self.add(n, "global_avgpool", [n.input[0]])
            else:
                pooled = self.add(n, "global_avgpool", [n.input[0]], output=f"{n.output[0]}/pool")
                self.add(n, "flatten", [pooled.name], path="")
            return None
        found = self.layer_norm_at(n)
        if found is None:
            return self.refuse(n, f"{n.op_type} other than a layer norm over the last axis")
        nodes, weight, bias, eps = found
        return self.layer_norm(nodes, weight, bias, eps, n.input[0], nodes[-1])

    def op_Transpose(self, n, a) -> None:
        perm = tuple(a.get("perm", ()))
        x = self.const(n.input[0])
        if x is not None and perm == (1, 0):  # a dense layer's weight, as torch's Linear stores it
            self.consts[n.output[0]] = x.T
            self.transposed[n.output[0]] = n.input[0]
            return None
        if perm not in _PERMUTES:
            return self.refuse(n, f"Transpose{perm} (only channels-last (0, 2, 3, 1) and back (0, 3, 1, 2))")
        # torchvision's LayerNorm2d: to channels-last, a layer norm, and back is one layer norm over channels
        users = self.consumers.get(n.output[0], [])
        found = users and perm == (0, 2, 3, 1) and self.layer_norm_at(users[0])
        found = found and {u.output[0] for u in users} <= {m.output[0] for m in found[0]} and found
        back = found and self.user(found[0][-1].output[0], "Transpose")
        if back and tuple(self.attrs(back).get("perm", ())) == (0, 3, 1, 2):
            nodes, weight, bias, eps = found
            return self.layer_norm([n, *nodes, back], weight, bias, eps, n.input[0], back)
        self.add(n, _PERMUTES[perm], [n.input[0]])
        return None

    def op_MatMul(self, n, a) -> None:
        """x · Wᵀ (+ b) on a map held channels-last: a dense layer, its weight stored as torch's (out, in)."""
        weight, transposed = self.transposed.get(n.input[1]), True
        if weight is None and n.input[1] in self.initializers and not n.input[1].endswith(".weight"):
            weight, transposed = n.input[1], False  # torch.onnx.export's weight stored (in, out) as `val_12`
        if weight is None or self.consts[weight].ndim != 2:
            return self.refuse(n, "MatMul other than by a dense layer's transposed weight (Transpose of NAME.weight)")
        units = int(self.consts[weight].shape[0 if transposed else 1])
        bias = self.user(n.output[0], "Add")
        b_name = bias and next((i for i in bias.input if i != n.output[0]), None)
        b = b_name and self.const(b_name)
        last = n
        if bias and b is not None and b.shape == (units,):
            self.skip.add(bias.output[0])
            last = bias
        args = {"units": units, **({} if last is bias else {"use_bias": False})}
        path = self.path(n, weight) if transposed else self.path(last)
        self.weight(n, path, "weight", weight, not transposed)
        if last is bias:
            self.weight(n, path, "bias", b_name)
        self.add(last, "dense", [n.input[0]], args, path)
        return None

    def op_Identity(self, n, a) -> None:
        # the identity: nothing of its own (stochastic depth and dropout are exported as one in inference)
        self.alias[n.output[0]] = self.ref(n.input[0])

    def op_Reshape(self, n, a) -> None:
        """Channel shuffle: Reshape to N × g × C/g × ..., Transpose of the two channel axes, Reshape back."""
        x, target = n.input[0], self.const(n.input[1])
        shape = self.shapes.get(x, ())
        swap = self.user(n.output[0], "Transpose")
        copy = swap and self.user(swap.output[0], "Identity")  # `.contiguous()` as the dynamo exporter writes it
        back = swap and self.user((copy or swap).output[0], "Reshape")
        if target is not None and len(shape) == 4 and shape[1] and back and len(target) in (4, 5):
            c, g = shape[1], int(target[1])
            perm = tuple(self.attrs(swap).get("perm", ()))
            grouped = g > 0 and c % g == 0 and int(target[2]) == c // g
            if grouped and perm == (0, 2, 1, *range(3, len(target))) and self.same_shape(back.input[1], x):
                self.skip.update([swap.output[0], back.output[0], *self.shape_of(back.input[1], x)])
                self.skip.update(copy.output if copy else [])
                self.add(back, "channel_shuffle", [x], {} if g == 2 else {"groups": g})
                return None
        gather = self.user(n.output[0], "Gather")
        index = gather and self.const(gather.input[1])
        if list(np.ravel(target)) == [-1] and index is not None and shape and all(shape):
            if self.attrs(gather).get("axis", 0) == 0 and np.array_equal(index, np.arange(index.size).reshape(shape)):
                # the exporter's `as_strided` of a value as it is (a permute of axes of size 1): nothing
                self.skip.add(gather.output[0])
                self.alias[gather.output[0]] = self.ref(x)
                return None
        if target is not None and len(target) == 2 and len(shape) in (2, 4) and all(shape[1:]):
            batch, features, size = int(target[0]), int(target[1]), int(np.prod(shape[1:]))
            if (batch in (0, shape[0]) and features in (-1, size)) or (batch == -1 and features == size):
                self.add(n, "flatten", [x])  # x.view(x.size(0), -1), torch.flatten(x, 1) as a Reshape
                return None
        return self.refuse(n, "Reshape other than a flatten or in a channel shuffle (Reshape, Transpose, Reshape)")

    def shape_of(self, tensor: str, x: str) -> list[str]:
        """[tensor] where it is computed by Shape(x) for one Reshape alone (skipped with it), else []."""
        node = self.producer.get(tensor)
        return [tensor] if node is not None and node.op_type == "Shape" and list(node.input) == [x] else []

    def same_shape(self, tensor: str, x: str) -> bool:
        """`tensor` is `x`'s shape: Shape(x), or a constant that gives it (0 keeps a size, one -1 fills in)."""
        if self.shape_of(tensor, x):
            return len(self.consumers.get(tensor, [])) == 1
        target, shape = self.const(tensor), self.shapes.get(x, ())
        if target is None or len(target) != len(shape):
            return False
        return all(t == s or t == 0 or (k == 0 and t == -1) for k, (t, s) in enumerate(zip(target, shape)))

    def op_Shape(self, n, a) -> None:
        if n.output[0] not in self.skip:  # read by a channel shuffle's Reshape, which skips it
            self.refuse(n, "Shape (no .cnn op)")

    def op_Slice(self, n, a) -> None:
        """A slice of the channels that is one of k equal parts: `chunk(k, i)`."""
        bounds = [self.const(i) if i else None for i in list(n.input[1:5]) + [""] * (5 - len(n.input))]
        starts, ends, axes, steps = bounds
        c = self.shapes.get(n.input[0], (None, None))[1]
        one = all(v is not None and v.size == 1 for v in (starts, ends, axes))
        if one and c and int(np.ravel(axes)[0]) in (1, -3):
            start, end = int(np.ravel(starts)[0]), min(int(np.ravel(ends)[0]), c)
            size = end - start
            if (steps is None or int(np.ravel(steps)[0]) == 1) and 0 < size and c % size == 0 and start % size == 0:
                self.add(n, "chunk", [n.input[0]], {"chunks": c // size, "index": start // size})
                return None
        return self.refuse(n, "Slice other than one of equal parts of the channels")

    def op_SplitToSequence(self, n, a) -> None:
        """The dynamo exporter's `x.chunk(k, 1)` without optimisation: parts of `split` channels each, read
        by `SequenceAt`; nothing of its own."""
        c = self.shapes.get(n.input[0], (None, None))[1]
        size = self.scalar(n.input[1]) if len(n.input) > 1 and n.input[1] else 1.0
        if a.get("axis", 0) not in (1, -3) or not a.get("keepdims", 1) or not c or not size or c % int(size):
            return self.refuse(n, "SplitToSequence other than into equal parts of the channels")
        self.sequences[n.output[0]] = (n.input[0], c // int(size))
        return None

    def op_SequenceAt(self, n, a) -> None:
        x, chunks = self.sequences.get(n.input[0], (None, 0))
        index = self.scalar(n.input[1])
        if x is None or index is None:
            return self.refuse(n, "SequenceAt other than of a SplitToSequence of the channels")
        self.add(n, "chunk", [x], {"chunks": chunks, "index": int(index) % chunks})
        return None

    def op_Split(self, n, a) -> None:
        """Equal parts of the channels: each output i is `chunk(k, i)`."""
        c = self.shapes.get(n.input[0], (None, None))[1]
        split = self.const(n.input[1]) if len(n.input) > 1 and n.input[1] else a.get("split")
        k = len(n.output)
        equal = split is None or len(set(np.ravel(split).tolist())) == 1
        if a.get("axis", 0) not in (1, -3) or not c or c % k or not equal:
            return self.refuse(n, "Split other than into equal parts of the channels")
        for i, out in enumerate(n.output):
            if out in self.consumers or out in self.outputs:
                self.add(n, "chunk", [n.input[0]], {"chunks": k, "index": i}, output=out)
        return None

    def op_Div(self, n, a) -> None:
        """GELU as written before opset 20: x · ½(1 + erf(x/√2))."""
        x = n.input[0]
        erf = abs((self.scalar(n.input[1]) or 0) - 2**0.5) < 1e-6 and self.user(n.output[0], "Erf")
        one = erf and self.user(erf.output[0], "Add")
        gated = one and self.scalar(one.input[1]) == 1.0 and self.user(one.output[0], "Mul")
        half = gated and set(gated.input) == {x, one.output[0]} and self.user(gated.output[0], "Mul")
        if not half or self.scalar(half.input[1]) != 0.5:
            return self.refuse(n, "Div other than in GELU's formula")
        self.skip.update(o for m in (erf, one, gated, half) for o in m.output)
        self.activation(half, "gelu", {}, x)
        return None

    # --- one method per ONNX op ---

    def op_Conv(self, n, a) -> None:
        self.conv(n, a, "conv")

    def op_ConvTranspose(self, n, a) -> None:
        self.conv(n, a, "conv_transpose")

    def conv(self, n, a, kind: str) -> None:
        w = self.const(n.input[1])
        if w is None:
            return self.refuse(n, f"{n.op_type} with weights computed in the graph")
        bias = n.input[2] if len(n.input) > 2 and n.input[2] else None
        if bias in self.folded and not self.consts[bias].any():
            bias = None  # torch.onnx.export's zero bias for a convolution without one
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
        more |= {"dilation": tuple(a.get("dilations", (1, 1))), "groups": groups, "use_bias": bias is not None}
        defaults = {"strides": (1, 1), "padding": (0, 0), "output_padding": (0, 0), "dilation": (1, 1),
                    "groups": 1, "use_bias": True}  # fmt: skip
        args |= {k: v for k, v in more.items() if defaults[k] != v}
        if kind == "conv" and bias is None and w.size > 1 and (w == w[:1, :1]).all():
            # one matrix for every channel: cnndsl's fixed filter (a trained kernel is never so)
            args.pop("use_bias", None)
            args["weights"] = tuple(tuple(float(v) for v in row) for row in w[0, 0])
        path = self.path(n, n.input[1])
        self.weight(n, path, "weight", n.input[1])
        if bias is not None:
            self.weight(n, path, "bias", bias)
        self.add(n, kind, [n.input[0]], args, path)
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
        path = self.path(n, n.input[1].replace(".weight", "") + ".weight")
        for suffix, tensor in zip(("weight", "bias", "running_mean", "running_var"), n.input[1:], strict=False):
            self.weight(n, path, suffix, tensor)
        self.add(n, "batchnorm", [n.input[0]], args, path)

    def op_Gemm(self, n, a) -> None:
        w = self.const(n.input[1])
        if w is None or a.get("transB", 0) != 1 or a.get("transA", 0) or a.get("alpha", 1.0) != 1.0:
            return self.refuse(n, "Gemm other than a dense layer (x · Wᵀ + b)")
        bias = len(n.input) > 2 and n.input[2]
        args = {"units": int(w.shape[0]), **({} if bias else {"use_bias": False})}
        path = self.path(n, n.input[1])
        self.weight(n, path, "weight", n.input[1])
        if bias:
            self.weight(n, path, "bias", n.input[2])
        self.add(n, "dense", [n.input[0]], args, path)
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
        one = sig is not None and (y.endswith("/sigmoid") or sig.path and sig.path == self.path(n))
        if one and sig.kind == "sigmoid" and sig.inputs == [self.ref(x)]:
            self.nodes.remove(sig)  # x · sigmoid(x) as cnndsl writes silu, or in one module (nn.SiLU)
            self.activation(n, "silu", {})
            return None
        gamma, value = (y, x) if y in self.initializers else (x, y)
        if gamma in self.initializers and self.const(value) is None:  # x · γ or γ · x
            return self.layer_scale(n, value, gamma, self.const(gamma))
        if any(self.const(i) is not None for i in n.input):
            return self.refuse(n, "Mul by a constant")
        self.add(n, "multiply", [x, y])
        return None

    def layer_scale(self, n, x: str, name: str, gamma) -> None:
        """x · γ with one learned value per channel (C×1×1, or C for a vector), named as the layer."""
        if gamma.ndim not in (1, 3) or any(d != 1 for d in gamma.shape[1:]) or not _PATH.fullmatch(name):
            return self.refuse(n, f"Mul by a constant of shape {tuple(gamma.shape)}")
        # the value it starts from, where the weights are still all that one (the weights follow anyway)
        init = float(f"{float(np.ravel(gamma)[0]):.6g}") if (gamma == np.ravel(gamma)[0]).all() else 1e-6
        path = name
        if len(self.consumers.get(name, [])) > 1 and n.name in self.modules:  # merged by the exporter: its
            path = f"{self.modules[n.name][1]}.{name.rsplit('.', 1)[-1]}".lstrip(".")  # name in this module
        self.keys[path] = (self.same.get(name, name), False)
        self.add(n, "layer_scale", [x], {} if init == 1e-6 else {"init": init}, path)
        self.scales[n.output[0]] = tuple(gamma.shape)
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
