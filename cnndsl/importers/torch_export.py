"""PyTorch files: a `torch.export` program (.pt2) becomes a neutral `Graph`; TorchScript archives and
`torch.save` pickles are recognised and refused with what they are.

A .pt2 file is checked before `torch.export.load` reads it, so that loading runs nothing from the file:
`torch.export.load` unpickles payloads marked `use_pickle` (tensor subclasses, opaque constants) with
`weights_only=False`, loads the sample inputs with a fallback to `weights_only=False`, and parses symbolic
shape expressions with `sympy.sympify` (an `eval`). Such archives are refused; a plain program (tensors stored
raw, static shapes, ATen operators only) is read as it was saved.

The graph is read as `torch.export.export` writes it, without `run_decompositions()`: its operators are the
ones `forward` calls (`aten.conv2d`, `aten.batch_norm`, `aten.linear`, `aten.max_pool2d`, `aten.flatten`),
one per module, with their arguments as the module has them. Decomposing would give the core ATen set
(`aten.convolution`, `_native_batch_norm_legit_no_training`, `max_pool2d_with_indices`, `addmm` with a
transposed weight) that changes between torch releases and splits one module into several nodes. Each node's
`nn_module_stack` gives the module it comes from; a weighted op takes its label from its weights' state_dict
key (`layer1.0.conv1.weight` → `layer1.0.conv1`), so the compiled import loads the program's state_dict.
"""

from __future__ import annotations

import io
import json
import operator
import re
import warnings
import zipfile
from pathlib import Path

import torch
from torch import fx

from ..errors import InputError
from .graph import OWN_LEAVES, Graph, ImportRefused, check_axes, infer_shapes, pair, without_defaults
from .torch_fx import Converter as _FxConverter
from .torch_fx import scale_init

_TORCHSCRIPT = (
    "a TorchScript archive: loading one runs the code it holds (torch.jit.load has no safe mode), so cnndsl does "
    "not read it; export the model with torch.export instead: "
    "torch.export.save(torch.export.export(model.eval(), (x,)), 'model.pt2')"
)
_EXPECTED = (
    "cnndsl imports torch.export programs (.pt2): torch.export.save(torch.export.export(model.eval(), (x,)), path)"
)
_CONTAINERS = {"Sequential", "ModuleList", "ModuleDict"}
# Modules outside torch.nn that the torch.fx import reads as one op (torchvision's and cnndsl's PyTorch code's)
_ACTIVATIONS = {
    "relu": "relu", "relu6": "relu6", "gelu": "gelu", "silu": "silu", "sigmoid": "sigmoid", "tanh": "tanh",
    "hardswish": "hardswish", "hardsigmoid": "hardsigmoid", "leaky_relu": "leaky_relu", "elu": "elu",
    "softmax": "softmax", "_softmax": "softmax",
}  # fmt: skip


# --- what a file is -------------------------------------------------------------------------------------


def load(path: str | Path):
    """The `torch.export.ExportedProgram` in `path`; InputError for what is not one (TorchScript, a state_dict,
    a pickled model), or for a program whose loading would run code from the file."""
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:  # torch.save's legacy format, or no PyTorch file at all
        raise InputError(f"{path} is {_pickled(path)}; {_EXPECTED}") from None
    with archive:
        names = archive.namelist()
        # torch.load itself hands an archive with a constants.pkl to torch.jit.load: never let it see one
        if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
            raise InputError(f"{path} is {_TORCHSCRIPT}")
        if not any("/models/" in n for n in names):
            what = _pickled(path) if any(n.endswith("/data.pkl") for n in names) else "no torch.export program"
            raise InputError(f"{path} is {what}; {_EXPECTED}")
        try:
            problems = _unsafe(archive, names)
        except (ValueError, RecursionError, zipfile.BadZipFile) as e:  # JSON that is not, a damaged member
            problems = [f"a damaged archive ({type(e).__name__}: {e})"]
    if problems:
        raise InputError(f"{path} is not read: " + "; ".join(problems))
    try:
        with warnings.catch_warnings():  # torch's own deprecation notices while it deserializes
            warnings.simplefilter("ignore")
            return torch.export.load(path)
    except Exception as e:  # a damaged archive, or one of another torch version's schema
        raise InputError(f"{path} cannot be loaded as a torch.export program: {type(e).__name__}: {e}") from None


def _pickled(path: Path) -> str:
    """What a torch.save file holds, read with torch's restricted unpickler (weights_only=True runs no code)."""
    import pickle

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        cls = re.search(r"GLOBAL ([\w.]+)", str(e))  # the class the restricted unpickler would not build
        return f"a pickled {cls[1]} (a whole model saved with torch.save(model))" if cls else "no PyTorch file"
    except Exception:
        return "no PyTorch file"
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return f"a state_dict ({len(obj)} tensors: weights without the architecture)"
    return f"a torch.save file of a {type(obj).__name__}, not a model"


# The members of the archive torch.export.save writes, below its root folder. Anything else (AOTInductor's
# compiled libraries in data/aotinductor/, legacy pickled weights data/weights/model.pt ...) is refused.
_MEMBERS = re.compile(
    r"archive_format|archive_version|byteorder|\.data/version|\.data/serialization_id|models/model\.json"
    r"|data/weights/(model_weights_config\.json|weight_\d+)|data/constants/(model_constants_config\.json|tensor_\d+)"
    r"|data/sample_inputs/model\.pt|extra/[\w.-]+|"
)


def _unsafe(archive: zipfile.ZipFile, names: list[str]) -> list[str]:
    """What `torch.export.load` would unpickle, eval or run in the archive (see the module's docstring)."""
    root = names[0].split("/", 1)[0]
    members = [n[len(root) + 1 :] if n.startswith(f"{root}/") else n for n in names]
    odd = [m for m in members if not _MEMBERS.fullmatch(m)]
    if odd:
        return [f"it holds {odd[0]}, which torch.export.save does not write (an AOTInductor package?)"]
    problems = []
    for kind in ("weights", "constants"):
        config = f"{root}/data/{kind}/model_{kind}_config.json"
        if config not in names:
            return [f"no {config} (a torch.export file of an older torch)"]
        for key, payload in json.loads(archive.read(config)).get("config", {}).items():
            if payload.get("use_pickle") or not str(payload.get("path_name", "")).startswith(("weight_", "tensor_")):
                problems.append(f"{key} is a pickled object, not a tensor")
    samples = f"{root}/data/sample_inputs/model.pt"
    if samples in names:
        try:
            torch.load(io.BytesIO(archive.read(samples)), weights_only=True)
        except Exception:
            problems.append("its sample inputs are pickled objects, not tensors")
    program = json.loads(archive.read(f"{root}/models/model.json"))
    if program.get("range_constraints") or _has_key(program, "expr_str"):
        problems.append("it was exported with dynamic shapes (export it for one input shape)")
    nodes = program.get("graph_module", {}).get("graph", {}).get("nodes", [])
    others = sorted({n.get("target", "") for n in nodes} - {""})
    others = [t for t in others if not t.startswith(("torch.ops.aten.", "_operator."))]
    if others:
        problems.append(f"operators outside ATen: {', '.join(others)}")
    return problems


def _has_key(value, key: str) -> bool:
    if isinstance(value, dict):
        return key in value or any(_has_key(v, key) for v in value.values())
    return isinstance(value, list) and any(_has_key(v, key) for v in value)


def default_name(program) -> str:
    """The class of the exported module ("" if the program does not say)."""
    for n in program.graph.nodes:
        for path, cls in (n.meta.get("nn_module_stack") or {}).values():
            if path == "":
                return str(cls).rsplit(".", 1)[-1]
    return ""


def exported_shape(program) -> tuple:
    """The shape of the input (without the batch) the program was exported for; () if it has no one tensor."""
    inputs = [n for n in program.graph.nodes if n.op == "placeholder" and n.name in program.graph_signature.user_inputs]
    value = inputs[0].meta.get("val") if len(inputs) == 1 else None
    return tuple(value.shape[1:]) if isinstance(value, torch.Tensor) else ()


def parameter_count(program) -> int:
    return sum(program.state_dict[k].numel() for k in program.graph_signature.parameters)


def state_dict(program, keys) -> dict:
    """The program's tensors under `keys` (the compiled import's state_dict keys: they are the same names)."""
    tensors = {**program.constants, **program.state_dict}
    missing = [k for k in keys if k not in tensors]
    if missing:
        raise InputError(f"the exported program has no tensor {missing[0]!r} for the compiled network")
    return {k: tensors[k].detach().clone() for k in keys}


# --- the graph ------------------------------------------------------------------------------------------


def convert(program, name: str) -> Graph:
    """The neutral graph of an `ExportedProgram`."""
    converter = _Converter(program, name)
    graph = converter.graph()
    check_axes(graph, infer_shapes(graph), converter.axis, converter.scales)
    return graph


def _schema_args(n: fx.Node) -> dict:
    """An ATen call's arguments by name, the defaults of its schema filled in."""
    values = {}
    for i, a in enumerate(n.target._schema.arguments):
        if i < len(n.args):
            values[a.name] = n.args[i]
        elif a.name in n.kwargs:
            values[a.name] = n.kwargs[a.name]
        elif a.has_default_value():
            values[a.name] = a.default_value
    return values


def _local_response_norm(div: fx.Node) -> tuple[fx.Node, dict, list[fx.Node]] | None:
    """(x, lrn's arguments, the other nodes) where `div` ends F.local_response_norm of a map as torch.export
    records it (torch/nn/functional.py): `x / (avg_pool3d(pad(view(x * x, (N, 1, C, H, -1)), (0, 0, 0, 0,
    size // 2, (size - 1) // 2)), (size, 1, 1), stride=1).squeeze(1).view(x.shape) * alpha + k) ** beta`, each
    step read by the next alone; None for anything else."""
    aten = torch.ops.aten
    steps = [aten.pow.Tensor_Scalar, aten.add.Tensor, aten.mul.Tensor, aten.view.default, aten.squeeze.dim,
             aten.avg_pool3d.default, aten.pad.default, aten.view.default, aten.mul.Tensor]  # fmt: skip
    if div.target is not aten.div.Tensor or len(div.args) != 2 or not isinstance(div.args[0], fx.Node):
        return None
    x, node = div.args
    nodes = []
    for target in steps:
        if not isinstance(node, fx.Node) or node.target is not target or len(node.users) != 1:
            return None
        nodes.append(node)
        node = node.args[0]
    if node is not x or not isinstance(x.meta.get("val"), torch.Tensor) or x.meta["val"].ndim != 4:
        return None
    power, add, scale, back, squeeze, pool, pad, view, square = (_schema_args(n) for n in nodes)
    n, c, h, w = x.meta["val"].shape
    size = pool["kernel_size"][0]
    numbers = (power["exponent"], add["other"], scale["other"])
    if not (
        square["other"] is x and list(view["size"]) == [n, 1, c, h, -1] and list(back["size"]) == [n, c, h, w]
        and list(pad["pad"]) == [0, 0, 0, 0, size // 2, (size - 1) // 2] and pad["mode"] == "constant"
        and not pad["value"] and list(pool["kernel_size"]) == [size, 1, 1] and list(pool["stride"]) == [1, 1, 1]
        and pool["padding"] in (0, [0], [0, 0, 0])
        and not pool["ceil_mode"] and pool["count_include_pad"] and pool["divisor_override"] is None
        and squeeze["dim"] == 1 and add["alpha"] == 1
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers)
    ):  # fmt: skip
        return None
    args = {"size": size, "alpha": float(scale["other"]), "beta": float(power["exponent"]), "k": float(add["other"])}
    return x, args, nodes


class _Converter(_FxConverter):
    """The torch.fx frontend's converter, reading ATen calls instead of module calls and torch functions."""

    def __init__(self, program, name: str):
        gm = program.graph_module
        super().__init__(gm, gm, (), name)
        self.program = program
        sig = program.graph_signature
        self.keys = {**sig.inputs_to_parameters, **sig.inputs_to_buffers, **sig.inputs_to_lifted_tensor_constants}
        self.classes: dict[str, str] = {}
        self.shuffles_pending: dict[str, tuple] = {}  # a view/transpose of a channel shuffle -> (input, groups)
        self.weighted: set[str] = set()
        self.pairs: set[str] = set()  # ops giving (values, indices)
        self.lrns: dict[str, tuple[fx.Node, dict]] = {}  # the division ending a local response norm -> (x, args)
        self.lrn_parts: set[str] = set()  # the other nodes of its arithmetic

    def graph(self) -> Graph:
        sig = self.program.graph_signature
        inputs = [n for n in self.gm.graph.nodes if n.op == "placeholder" and n.name in sig.user_inputs]
        self.input_shape = exported_shape(self.program)
        if not self.input_shape:
            raise ImportRefused([(f"{len(inputs)} inputs (cnndsl imports models of one tensor)", "forward")], self.name)
        inp = inputs[0].name
        self.order = {n: k for k, n in enumerate(self.gm.graph.nodes)}
        for n in self.gm.graph.nodes:
            self.users[n.name] = len(n.users)
            lrn = _local_response_norm(n)
            if lrn:
                self.lrns[n.name] = lrn[:2]
                self.lrn_parts |= {p.name for p in lrn[2]}
                self.users[lrn[0].name] -= 1  # its input is read by the square and the division: one op
            for path, cls in (n.meta.get("nn_module_stack") or {}).values():
                self.classes.setdefault(path, str(cls).rsplit(".", 1)[-1])
        outputs = []
        for n in self.gm.graph.nodes:
            if n.op == "output":
                outputs = [self.ref(v) for v in n.args[0] if isinstance(v, fx.Node) and v.name in sig.user_outputs]
            elif n.op == "call_function":
                self.convert(n)
        for g in self.nodes:  # the 5-d view (or its transpose) of something other than a channel shuffle
            if any(i in self.shuffles_pending for i in g.inputs):
                self.problems.append(("a reshape or transpose other than a channel shuffle", g.where))
        if any(o in self.shuffles_pending for o in outputs):
            self.problems.append(("an output that is a reshape or transpose", "forward"))
        if self.problems:
            if "ATEN" in (v.dialect for v in self.program.verifiers):  # core ATen: run_decompositions() was run
                self.problems.insert(0, ("a decomposed program: save the one torch.export.export returns", "the file"))
            raise ImportRefused(self.problems, self.name)
        self.place_merges()
        sequential = {p for p, c in self.classes.items() if c in ("Sequential", "ModuleList")}
        return Graph(self.name, inp, self.input_shape, self.nodes, outputs, self.classes, sequential)

    def scope(self, n: fx.Node) -> str:
        while not n.meta.get("nn_module_stack") and n.args and isinstance(n.args[0], fx.Node):
            n = n.args[0]  # a getitem of a split keeps no stack: its source's
        return super().scope(n)

    def refuse(self, n: fx.Node, what: str, where: str = "") -> None:
        leaf = self.leaf(n)
        if leaf and not where and any(w == leaf for _, w in self.problems):
            return  # a torch.nn module the program records as several calls (LocalResponseNorm): named once
        super().refuse(n, what, where)

    def leaf(self, n: fx.Node) -> str:
        """The path of the torch.nn module (ReLU, MaxPool2d ...) that made the node, or ""."""
        stack = list((n.meta.get("nn_module_stack") or {}).values())
        if not stack:
            return ""
        path, cls = stack[-1]
        name = str(cls).rsplit(".", 1)[-1]
        own = str(cls).startswith("torch.nn.") and name not in _CONTAINERS
        return path if own or name in OWN_LEAVES else ""

    def weights(self, n: fx.Node, tensors: dict, what: str) -> str | None:
        """The module path the weight tensors of a call belong to (`layer1.0.conv1` for its `.weight`)."""
        keys = {}
        for suffix, t in tensors.items():
            if t is None:
                continue
            key = self.keys.get(t.name) if isinstance(t, fx.Node) else None
            if key is None or not key.endswith(f".{suffix}") and key != suffix:
                self.refuse(n, f"{what} with a computed or renamed {suffix} tensor")
                return None
            keys[suffix] = key[: -len(suffix) - 1] if key != suffix else ""
        paths = set(keys.values())
        if len(paths) != 1 or "" in paths:
            self.refuse(n, f"{what} whose tensors are no module's weight and bias ({', '.join(sorted(keys))})")
            return None
        path = paths.pop()
        if path in self.weighted:
            self.refuse(n, f"{what} called twice (shared weights)", path)
            return None
        self.weighted.add(path)
        return path

    def convert(self, n: fx.Node) -> None:
        if n.name in self.lrn_parts:  # read as one op at the division that ends it
            return None
        if n.name in self.lrns:
            x, args = self.lrns[n.name]
            self.add(n, "lrn", [x], without_defaults(args, {"alpha": 1e-4, "beta": 0.75, "k": 1.0}), self.leaf(n))
            return None
        if n.target is operator.getitem:  # export keeps the unused items of an unpacked split (`a, b = x.chunk(2)`)
            return self.getitem(n) if n.users else None
        if not isinstance(n.target, torch._ops.OpOverload):
            return self.refuse(n, str(n.target))
        op = n.target._schema.name.split("::")[-1]
        inplace = op.endswith("_") and not op.endswith("__")
        op = op.rstrip("_") if inplace else op
        target = n.args[0] if n.args and isinstance(n.args[0], fx.Node) else None
        if inplace and target and any(self.order[u] > self.order[n] for u in target.users if u is not n):
            return self.refuse(n, f"aten.{op}_ on a tensor read again later (the graph is not functional)")
        if not n.users:
            return None
        a = _schema_args(n)
        if op in _ACTIVATIONS:
            return self.aten_activation(n, _ACTIVATIONS[op], a, inplace)
        handler = getattr(self, f"aten_{op}", None)
        if handler is None:
            leaf = self.leaf(n)
            return self.refuse(n, f"{self.classes[leaf]} (aten.{op})" if leaf else f"aten.{op}")
        return handler(n, a)

    def aten_conv2d(self, n: fx.Node, a: dict) -> None:
        path = self.weights(n, {"weight": a["weight"], "bias": a["bias"]}, "conv2d")
        if path is None:
            return
        w = a["weight"].meta["val"].shape
        padding = a["padding"] if isinstance(a["padding"], str) else pair(a["padding"])
        args = {"filters": w[0], "kernel_size": tuple(w[2:])}
        args |= without_defaults(
            {"strides": pair(a["stride"]), "padding": (0, 0) if padding == "valid" else padding,
             "dilation": pair(a["dilation"]), "groups": a["groups"], "use_bias": a["bias"] is not None},
            {"strides": (1, 1), "padding": (0, 0), "dilation": (1, 1), "groups": 1, "use_bias": True},
        )  # fmt: skip
        self.add(n, "conv", [a["input"]], args, path)

    def aten_conv_transpose2d(self, n: fx.Node, a: dict) -> None:
        path = self.weights(n, {"weight": a["weight"], "bias": a["bias"]}, "conv_transpose2d")
        if path is None:
            return
        w = a["weight"].meta["val"].shape
        args = {"filters": w[1] * a["groups"], "kernel_size": tuple(w[2:])}
        args |= without_defaults(
            {"strides": pair(a["stride"]), "padding": pair(a["padding"]),
             "output_padding": pair(a["output_padding"]), "dilation": pair(a["dilation"]), "groups": a["groups"],
             "use_bias": a["bias"] is not None},
            {"strides": (1, 1), "padding": (0, 0), "output_padding": (0, 0), "dilation": (1, 1), "groups": 1,
             "use_bias": True},
        )  # fmt: skip
        self.add(n, "conv_transpose", [a["input"]], args, path)

    def aten_batch_norm(self, n: fx.Node, a: dict) -> None:
        if a["training"]:
            return self.refuse(n, "batch norm in training mode (export model.eval())")
        tensors = {k: a[k] for k in ("weight", "bias", "running_mean", "running_var")}
        if any(t is None for t in tensors.values()):
            return self.refuse(n, "batch norm without affine parameters or running statistics")
        path = self.weights(n, tensors, "batch_norm")
        if path is not None:
            args = without_defaults({"eps": a["eps"], "momentum": a["momentum"]}, {"eps": 1e-5, "momentum": 0.1})
            self.add(n, "batchnorm", [a["input"]], args, path)

    def aten_linear(self, n: fx.Node, a: dict) -> None:
        path = self.weights(n, {"weight": a["weight"], "bias": a["bias"]}, "linear")
        if path is not None:
            args = {"units": a["weight"].meta["val"].shape[0]}
            self.add(n, "dense", [a["input"]], args | ({} if a["bias"] is not None else {"use_bias": False}), path)

    def aten_layer_norm(self, n: fx.Node, a: dict) -> None:
        if len(a["normalized_shape"]) != 1:
            return self.refuse(n, f"layer_norm over the last {len(a['normalized_shape'])} axes")
        if a["weight"] is None or a["bias"] is None:
            return self.refuse(n, "layer_norm without a learned weight and bias")
        path = self.weights(n, {"weight": a["weight"], "bias": a["bias"]}, "layer_norm")
        if path is not None:
            g = self.add(n, "layernorm", [a["input"]], without_defaults({"eps": a["eps"]}, {"eps": 1e-5}), path)
            self.axis[g.name] = "channels" if self.classes.get(path) == "LayerNorm2d" else "last"

    def aten_permute(self, n: fx.Node, a: dict) -> None:
        path = self.leaf(n)
        if self.classes.get(path) == "LayerNorm2d":  # its forward's permutes around F.layer_norm: one layernorm
            self.alias[n.name] = self.ref(a["self"])
            return None
        kind_args = self.permute(n, tuple(a["dims"]), "")
        if kind_args:
            self.add(n, kind_args[0], [a["self"]], {}, path)
        return None

    def layer_scale(self, n: fx.Node, x: fx.Node, p: fx.Node) -> None:
        """`x * self.layer_scale`, a parameter of one value per channel (ConvNeXt's layer scale)."""
        key = self.keys[p.name]
        gamma = self.program.state_dict[key].detach()
        if gamma.ndim not in (1, 3) or any(d != 1 for d in gamma.shape[1:]) or len(p.users) != 1:
            return self.refuse(n, f"a multiplication by {key} of shape {tuple(gamma.shape)}")
        g = self.add(n, "layer_scale", [x], without_defaults({"init": scale_init(gamma)}, {"init": 1e-6}), key)
        self.scales[g.name] = tuple(gamma.shape)
        return None

    def aten_activation(self, n: fx.Node, kind: str, a: dict, inplace: bool) -> None:
        x = a.get("self", a.get("input"))
        extra = {}
        if kind == "softmax" and a["dim"] not in (1, -1):
            return self.refuse(n, f"softmax over dimension {a['dim']}")
        if kind == "gelu" and a["approximate"] != "none":
            return self.refuse(n, "gelu with the tanh approximation")
        if kind == "leaky_relu" and a["negative_slope"] != 0.01:
            extra = {"alpha": a["negative_slope"]}
        if kind == "elu":
            if a["scale"] != 1 or a["input_scale"] != 1:
                return self.refuse(n, "elu with a scale (selu, celu)")
            extra = {"alpha": a["alpha"]} if a["alpha"] != 1 else {}
        producer = self.by_name.get(self.ref(x))
        path = self.leaf(n)
        g = self.add(n, kind, [x], extra, path)
        # `F.relu(self.conv(x))`, as cnndsl's PyTorch code writes `activation=` (see torch_fx.functional_activation)
        g.fusable = (
            not path and not inplace and not extra and producer is not None
            and producer.kind in ("conv", "conv_transpose", "dense") and "activation" not in producer.args
            and self.users[x.name] == 1
        )  # fmt: skip
        return None

    def aten_hardtanh(self, n: fx.Node, a: dict) -> None:
        if (a["min_val"], a["max_val"]) != (0, 6):
            return self.refuse(n, f"hardtanh({a['min_val']}, {a['max_val']})")
        return self.aten_activation(n, "relu6", {"self": a["self"]}, False)

    def merge(self, n: fx.Node, kind: str, a: dict) -> None:
        if not isinstance(a["other"], fx.Node) or a.get("alpha", 1) != 1:
            return self.refuse(n, f"{kind} with a constant")
        self.add(n, kind, [a["self"], a["other"]], {}, self.leaf(n))
        return None

    def aten_add(self, n: fx.Node, a: dict) -> None:
        return self.merge(n, "add", a)

    def aten_mul(self, n: fx.Node, a: dict) -> None:
        x, y = a["self"], a["other"]
        weights = [t for t in (x, y) if isinstance(t, fx.Node) and t.name in self.keys]
        if len(weights) == 1:
            return self.layer_scale(n, y if weights[0] is x else x, weights[0])
        return self.merge(n, "multiply", a)

    def aten_cat(self, n: fx.Node, a: dict) -> None:
        if a["dim"] not in (1, -3):
            return self.refuse(n, f"torch.cat over dimension {a['dim']}")
        self.add(n, "concat", list(a["tensors"]))
        return None

    def aten_flatten(self, n: fx.Node, a: dict) -> None:
        if (a["start_dim"], a["end_dim"]) != (1, -1):
            return self.refuse(n, f"flatten from dimension {a['start_dim']} to {a['end_dim']}")
        self.add(n, "flatten", [a["self"]], {}, self.leaf(n))
        return None

    def aten_max_pool2d(self, n: fx.Node, a: dict) -> None:
        if pair(a["dilation"]) != (1, 1):
            return self.refuse(n, "max pooling with dilation")
        kind, args = self.pool_args("maxpool", a["kernel_size"], a["stride"], a["padding"], a["ceil_mode"], True)
        self.add(n, kind, [a["self"]], args, self.leaf(n))
        return None

    def aten_avg_pool2d(self, n: fx.Node, a: dict) -> None:
        if a["divisor_override"] is not None:
            return self.refuse(n, "average pooling with divisor_override")
        kind, args = self.pool_args("avgpool", a["kernel_size"], a["stride"], a["padding"], a["ceil_mode"],
                                    a["count_include_pad"])  # fmt: skip
        self.add(n, kind, [a["self"]], args, self.leaf(n))
        return None

    def aten_adaptive_avg_pool2d(self, n: fx.Node, a: dict) -> None:
        kind_args = self.adaptive(n, "avg", a["output_size"], "")
        if kind_args:
            self.add(n, kind_args[0], [a["self"]], kind_args[1], self.leaf(n))

    def aten_adaptive_max_pool2d(self, n: fx.Node, a: dict) -> None:  # (values, indices): getitem 0 reads it
        kind_args = self.adaptive(n, "max", a["output_size"], "")
        if kind_args:
            self.add(n, kind_args[0], [a["self"]], kind_args[1], self.leaf(n))
            self.pairs.add(n.name)

    def aten_mean(self, n: fx.Node, a: dict) -> None:
        dims = {d % 4 for d in (a.get("dim") or ())}
        if dims != {2, 3} or not a.get("keepdim"):
            return self.refuse(n, "a mean other than over H and W with keepdim=True")
        self.add(n, "global_avgpool", [a["self"]])
        return None

    def aten_dropout(self, n: fx.Node, a: dict) -> None:
        if a["train"]:
            return self.refuse(n, "dropout in training mode (export model.eval())")
        self.add(n, "dropout", [a["input"]], without_defaults({"rate": a["p"]}, {"rate": 0.5}), self.leaf(n))
        return None

    def aten_upsample_nearest2d(self, n: fx.Node, a: dict) -> None:
        kind_args = self.upsample(n, a.get("scale_factors"), "nearest", None, "")
        if kind_args:
            self.add(n, kind_args[0], [a["input"]], kind_args[1], self.leaf(n))

    def aten_upsample_bilinear2d(self, n: fx.Node, a: dict) -> None:
        kind_args = self.upsample(n, a.get("scale_factors"), "bilinear", a["align_corners"], "")
        if kind_args:
            self.add(n, kind_args[0], [a["input"]], kind_args[1], self.leaf(n))

    def aten_channel_shuffle(self, n: fx.Node, a: dict) -> None:
        self.add(n, "channel_shuffle", [a["self"]], {"groups": a["groups"]}, self.leaf(n))

    aten_native_channel_shuffle = aten_channel_shuffle

    def aten_chunk(self, n: fx.Node, a: dict) -> None:
        return self.chunk(n)

    # `x.view(N, g, C // g, H, W)`, `.transpose(1, 2)`, `.contiguous()`, `.view(N, C, H, W)`: a channel shuffle
    # (torchvision's and cnndsl's `channel_shuffle` function); `x.view(N, -1)` of a map: a flatten.
    def aten_view(self, n: fx.Node, a: dict) -> None:
        x = a["self"]
        before, after = tuple(x.meta["val"].shape), tuple(n.meta["val"].shape)
        if len(before) == 4 and len(after) == 5 and after[1] * after[2] == before[1] and after[3:] == before[2:]:
            self.shuffles_pending[n.name] = (x, after[1], "view")
            return None
        pending = self.shuffles_pending.get(x.name)
        if pending and pending[2] == "transpose" and after == tuple(pending[0].meta["val"].shape):
            self.add(n, "channel_shuffle", [pending[0]], without_defaults({"groups": pending[1]}, {"groups": 2}))
            return None
        if len(before) > 2 and len(after) == 2 and after[0] == before[0]:
            self.add(n, "flatten", [x])
            return None
        return self.refuse(n, f"a reshape from {list(before)} to {list(after)}")

    aten_reshape = aten_view

    def aten_transpose(self, n: fx.Node, a: dict) -> None:
        pending = self.shuffles_pending.get(a["self"].name)
        if pending and pending[2] == "view" and {a["dim0"], a["dim1"]} == {1, 2}:
            self.shuffles_pending[n.name] = (pending[0], pending[1], "transpose")
            return None
        return self.refuse(n, f"transpose of dimensions {a['dim0']} and {a['dim1']}")

    def alias_of(self, n: fx.Node, a: dict) -> None:
        x = a["self"]
        if x.name in self.shuffles_pending:
            self.shuffles_pending[n.name] = self.shuffles_pending[x.name]
        else:
            self.alias[n.name] = self.ref(x)

    aten_contiguous = aten_clone = aten_detach = aten_alias = alias_of

    def getitem(self, n: fx.Node) -> None:
        source, index = n.args
        if isinstance(source, fx.Node) and source.name in self.shuffles_pending:
            return self.refuse(n, "indexing a reshaped tensor")
        if isinstance(source, fx.Node) and source.name in self.pairs:
            if index != 0:
                return self.refuse(n, "the indices of a max pooling")
            self.alias[n.name] = source.name
            return None
        return super().getitem(n)
