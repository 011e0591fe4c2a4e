"""PyTorch frontend: an `nn.Module` traced with torch.fx becomes a neutral `Graph`.

The tracer stops at the modules cnndsl has an op for (`nn.Conv2d`, `nn.BatchNorm2d`, `nn.ReLU` ...) and traces
through every other one (`nn.Sequential`, torchvision's `BasicBlock`), so each node keeps the module path it
comes from and the function calls (`torch.cat`, `out += identity`, `F.relu`) keep the module whose forward made
them (fx's `nn_module_stack`). Shapes come from cnndsl's own shape rules (graph.infer_shapes): no forward pass.
"""

from __future__ import annotations

import operator
import types

import torch
import torch.nn.functional as F
from torch import fx, nn

from .graph import GNode, Graph, ImportRefused, check_axes, infer_shapes, pair, without_defaults

_ACTIVATION_MODULES = {
    nn.ReLU: "relu", nn.ReLU6: "relu6", nn.GELU: "gelu", nn.SiLU: "silu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh",
    nn.Hardswish: "hardswish", nn.Hardsigmoid: "hardsigmoid", nn.LeakyReLU: "leaky_relu", nn.ELU: "elu",
    nn.Softmax: "softmax",
}  # fmt: skip
_ACTIVATION_FUNCTIONS = {
    F.relu: "relu", torch.relu: "relu", F.relu6: "relu6", F.gelu: "gelu", F.silu: "silu", torch.sigmoid: "sigmoid",
    F.sigmoid: "sigmoid", torch.tanh: "tanh", F.tanh: "tanh", F.hardswish: "hardswish",
    F.hardsigmoid: "hardsigmoid", F.leaky_relu: "leaky_relu", F.elu: "elu", F.softmax: "softmax",
}  # fmt: skip
_ACTIVATION_METHODS = {"relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "softmax": "softmax"}
_ADD = {operator.add, operator.iadd, torch.add}
_MUL = {operator.mul, operator.imul, torch.mul}
# The modules the tracer stops at: each one becomes one op.
_LEAVES = (
    nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d, nn.BatchNorm1d, nn.Linear, nn.MaxPool2d, nn.AvgPool2d,
    nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Dropout, nn.Flatten, nn.LocalResponseNorm, nn.Upsample,
    nn.Identity, nn.ChannelShuffle, nn.LayerNorm, *_ACTIVATION_MODULES,
)  # fmt: skip
# torchvision's Permute dims (ConvNeXt's block.1 and block.6), and `x.permute(...)`'s
_PERMUTES = {(0, 2, 3, 1): "channels_last", (0, 3, 1, 2): "channels_first"}


class _Tracer(fx.Tracer):
    """Stops at the modules cnndsl maps (and at any other module of torch.nn, to name it when refusing it)."""

    def __init__(self, autowrap_functions=()):
        super().__init__(autowrap_functions=autowrap_functions)
        self.failed_in = ""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if isinstance(m, _LEAVES) or _is_stochastic_depth(m) or _is_permute(m):
            return True
        if isinstance(m, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
            return False
        return type(m).__module__.startswith("torch.nn")

    def call_module(self, m, forward, args, kwargs):
        self.failed_in = self.path_of_module(m)
        return super().call_module(m, forward, args, kwargs)


def trace(model: nn.Module, input_shape: tuple[int, ...], name: str = "imported") -> Graph:
    """The graph of `model` for inputs of shape `input_shape` (C, H, W or N, without the batch)."""
    tracer = _Tracer(_shuffles(model))
    training = model.training
    try:
        model.eval()  # dropout and batch norm as in inference; the caller's mode is given back below
        fx_graph = tracer.trace(model)
    except (fx.proxy.TraceError, TypeError, RuntimeError, AttributeError) as e:
        where = _user_frame(e) or tracer.failed_in or type(model).__name__
        message = str(e).split("\n")[0]
        if "control flow" in message or "iterate" in message or "bool" in message:
            message = f"data-dependent control flow ({message})"
        raise ImportRefused([(message, where)], f"{type(model).__name__}") from None
    finally:
        model.train(training)
    gm = fx.GraphModule(tracer.root, fx_graph)
    converter = Converter(gm, model, input_shape, name)
    graph = converter.graph()
    check_axes(graph, infer_shapes(graph), converter.axis, converter.scales)
    return graph


class Converter:
    def __init__(self, gm: fx.GraphModule, model: nn.Module, input_shape, name: str):
        self.gm, self.model, self.input_shape, self.name = gm, model, tuple(input_shape), name
        self.modules = dict(model.named_modules())
        self.nodes: list[GNode] = []
        self.alias: dict[str, str] = {}  # fx node -> the node that computes its value (identity, folded ops)
        self.users: dict[str, int] = {}
        self.by_name: dict[str, GNode] = {}
        self.problems: list[tuple[str, str]] = []
        self.called: set[str] = set()
        self.chunks: dict[str, tuple] = {}  # a chunk's fx node -> (its input, how many chunks)
        self.shuffles = set(_shuffles(model))
        self.attrs: dict[str, fx.Node] = {}  # get_attr nodes (a layer scale's parameter), refused unless used so
        self.used_attrs: set[str] = set()
        self.axis: dict[str, str] = {}  # a layer norm -> the axis it normalises: "last", or "channels" (NCHW)
        self.scales: dict[str, tuple] = {}  # a layer scale -> its parameter's shape

    def graph(self) -> Graph:
        inp, outputs = None, []
        for n in self.gm.graph.nodes:
            self.users[n.name] = len(n.users)
        for n in self.gm.graph.nodes:
            if n.op == "placeholder":
                if inp is not None:
                    self.problems.append(("a second input", n.name))
                inp = n.name
            elif n.op == "output":
                values = n.args[0] if isinstance(n.args[0], (tuple, list)) else [n.args[0]]
                outputs = [self.ref(v) for v in values]
            else:
                self.convert(n)
        for name, n in self.attrs.items():
            if name not in self.used_attrs:
                self.refuse(n, f"a constant tensor ({n.target}) used in forward")
        if self.problems:
            raise ImportRefused(self.problems, type(self.model).__name__)
        self.place_merges()
        classes = {path: type(m).__name__ for path, m in self.modules.items()}
        sequential = {p for p, m in self.modules.items() if isinstance(m, (nn.Sequential, nn.ModuleList))}
        return Graph(self.name, inp, self.input_shape, self.nodes, outputs, classes, sequential)

    def place_merges(self) -> None:
        """An add written by an enclosing module (`x = block + x` in the network's forward, where the block
        is `features.1.block`) belongs to the module it closes (`features.1`): there it is a `residual`."""
        for g in self.nodes:
            if g.path or g.kind not in ("add", "multiply", "concat"):
                continue
            owners = [_owner(self.by_name[i]) if i in self.by_name else None for i in g.inputs]
            scope, body = g.scope, False
            while True:  # down to the deepest module that holds the merge's inputs or reads them as its input
                prefix = f"{g.scope}." if g.scope else ""
                inner = [o for o in owners if o and o.startswith(prefix) and o != g.scope]
                if not inner:
                    break
                child = prefix + inner[0][len(prefix) :].split(".")[0]
                inside = {n.name: n for n in self.nodes if n is not g and _within(_owner(n), child)}
                entries = {i for n in inside.values() for i in n.inputs if i not in inside}
                if not all(_within(o, child) or i in entries for o, i in zip(owners, g.inputs, strict=True)):
                    break
                g.scope = child
                body = all(i in entries for o, i in zip(owners, g.inputs, strict=True) if not _within(o, child))
            if g.scope != scope and body:  # the module is the residual's body: the merge is its parent's
                g.scope = g.scope.rpartition(".")[0]

    def ref(self, value) -> str:
        if not isinstance(value, fx.Node):
            raise TypeError(value)
        name = value.name
        while name in self.alias:
            name = self.alias[name]
        return name

    def scope(self, n: fx.Node) -> str:
        stack = n.meta.get("nn_module_stack") or {}
        paths = [v[0] for v in stack.values()]
        return paths[-1] if paths else ""

    def add(self, n: fx.Node, kind: str, inputs, args=None, path: str = "", where: str = "") -> GNode:
        g = GNode(n.name, kind, [self.ref(i) for i in inputs], args or {}, path, self.scope(n))
        g.where = where or path or self.scope(n) or n.name
        self.nodes.append(g)
        self.by_name[g.name] = g
        return g

    def refuse(self, n: fx.Node, what: str, where: str = "") -> None:
        self.problems.append((what, where or self.scope(n) or n.name))

    def convert(self, n: fx.Node) -> None:
        if n.op == "call_module":
            self.module(n, self.gm.get_submodule(n.target), n.target)
        elif n.op == "call_function":
            self.function(n)
        elif n.op == "call_method":
            self.method(n)
        else:  # get_attr: a tensor of the model used as a value, as a layer scale's (see `layer_scale`)
            self.attrs[n.name] = n

    # --- modules ----------------------------------------------------------------------------------

    def module(self, n: fx.Node, m: nn.Module, path: str) -> None:
        x = n.args[0] if n.args else None
        if len(n.args) != 1 or n.kwargs or not isinstance(x, fx.Node):
            return self.refuse(n, f"{type(m).__name__} called with {len(n.args)} arguments", path)
        trainable = any(True for _ in m.parameters(recurse=False)) or any(True for _ in m.buffers(recurse=False))
        if path in self.called and trainable:
            return self.refuse(n, f"{type(m).__name__} called twice (shared weights)", path)
        self.called.add(path)
        if isinstance(m, nn.Identity):
            self.alias[n.name] = self.ref(x)
            return None
        kind_args = self.module_op(n, m, path)
        if kind_args is not None:
            self.add(n, kind_args[0], [x], kind_args[1], path)
        return None

    def module_op(self, n: fx.Node, m: nn.Module, path: str):
        for cls, kind in _ACTIVATION_MODULES.items():
            if type(m) is cls:
                return self.activation(n, kind, m, path)
        if isinstance(m, nn.Conv2d) and type(m).__name__ == "FixedConv2d":
            return self.fixed_conv(n, m)
        if type(m) in (nn.Conv2d, nn.ConvTranspose2d):
            return self.conv(n, m, path)
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            if not m.affine or not m.track_running_stats:
                return self.refuse(n, "batch norm without affine parameters or running statistics", path)
            return "batchnorm", without_defaults({"eps": m.eps, "momentum": m.momentum}, {"eps": 1e-5, "momentum": 0.1})
        if isinstance(m, nn.Linear):
            return "dense", {"units": m.out_features, **({} if m.bias is not None else {"use_bias": False})}
        if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            return self.pool(n, m, path)
        if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            return self.adaptive(n, "avg" if isinstance(m, nn.AdaptiveAvgPool2d) else "max", m.output_size, path)
        if isinstance(m, nn.Dropout):
            return "dropout", without_defaults({"rate": m.p}, {"rate": 0.5})
        if isinstance(m, nn.Flatten):
            if m.start_dim != 1 or m.end_dim != -1:
                return self.refuse(n, f"Flatten(start_dim={m.start_dim}, end_dim={m.end_dim})", path)
            return "flatten", {}
        if isinstance(m, nn.LocalResponseNorm):
            return "lrn", without_defaults({"size": m.size, "alpha": m.alpha, "beta": m.beta, "k": m.k},
                                    {"alpha": 1e-4, "beta": 0.75, "k": 1.0})  # fmt: skip
        if isinstance(m, nn.Upsample):
            return self.upsample(n, m.scale_factor, m.mode, m.align_corners, path)
        if isinstance(m, nn.ChannelShuffle):
            return "channel_shuffle", {"groups": m.groups}
        if _is_stochastic_depth(m):
            return "stochastic_depth", {"p": float(m.p), **({"mode": m.mode} if m.mode != "row" else {})}
        if isinstance(m, nn.LayerNorm):
            return self.layernorm(n, m, path)
        if _is_permute(m):
            return self.permute(n, m.dims, path)
        return self.refuse(n, f"{type(m).__name__} (no .cnn op)", path)

    def activation(self, n: fx.Node, kind: str, m, where: str):
        if kind == "softmax" and getattr(m, "dim", 1) not in (1, -1):
            return self.refuse(n, f"softmax over dimension {m.dim}", where)
        if kind == "gelu" and getattr(m, "approximate", "none") != "none":
            return self.refuse(n, "gelu with the tanh approximation", where)
        if kind == "leaky_relu" and m.negative_slope != 0.01:
            return kind, {"alpha": m.negative_slope}
        if kind == "elu" and m.alpha != 1.0:
            return kind, {"alpha": m.alpha}
        return kind, {}

    def layernorm(self, n: fx.Node, m: nn.LayerNorm, path: str):
        """nn.LayerNorm(C) normalises the last axis: the channels of a vector or of a map held channels-last;
        torchvision's LayerNorm2d those of a map held channels-first (checked once the shapes are known)."""
        name = type(m).__name__
        if type(m) is not nn.LayerNorm and name != "LayerNorm2d":
            return self.refuse(n, f"{name} (a LayerNorm of its own)", path)
        if len(m.normalized_shape) != 1:
            shape = tuple(m.normalized_shape)
            return self.refuse(n, f"{name} over the last {len(shape)} axes {shape} (layernorm is over channels)", path)
        if m.weight is None or m.bias is None:
            return self.refuse(n, f"{name} without a learned weight and bias", path)
        self.axis[n.name] = "channels" if name == "LayerNorm2d" else "last"
        return "layernorm", without_defaults({"eps": m.eps}, {"eps": 1e-5})

    def permute(self, n: fx.Node, dims, where: str):
        dims = tuple(d % 4 for d in dims) if len(dims) == 4 else tuple(dims)
        if dims not in _PERMUTES:
            return self.refuse(n, f"permute{dims} (only channels-last (0, 2, 3, 1) and back (0, 3, 1, 2))", where)
        return _PERMUTES[dims], {}

    def layer_scale(self, n: fx.Node, x: fx.Node, attr: fx.Node) -> None:
        """`x * self.layer_scale`, a parameter of one value per channel (ConvNeXt's layer scale)."""
        try:
            gamma = self.gm.get_parameter(attr.target).detach()
        except AttributeError:
            return self.refuse(n, f"a constant tensor ({attr.target}) used in forward")
        shared = len(attr.users) != 1 or attr.target in self.called
        if gamma.ndim not in (1, 3) or any(d != 1 for d in gamma.shape[1:]) or shared:
            return self.refuse(n, f"a multiplication by {attr.target} of shape {tuple(gamma.shape)}")
        self.called.add(attr.target)
        self.used_attrs.add(attr.name)
        g = self.add(n, "layer_scale", [x], without_defaults({"init": scale_init(gamma)}, {"init": 1e-6}), attr.target)
        self.scales[g.name] = tuple(gamma.shape)
        return None

    def conv(self, n: fx.Node, m, path: str):
        if m.padding_mode != "zeros":
            return self.refuse(n, f"{type(m).__name__} with padding_mode={m.padding_mode!r}", path)
        transpose = isinstance(m, nn.ConvTranspose2d)
        args = {"filters": m.out_channels, "kernel_size": pair(m.kernel_size)}
        padding = m.padding if isinstance(m.padding, str) else pair(m.padding)
        more = {"strides": pair(m.stride), "padding": padding}
        if transpose:
            more["output_padding"] = pair(m.output_padding)
        more |= {"dilation": pair(m.dilation), "groups": m.groups, "use_bias": m.bias is not None}
        defaults = {"strides": (1, 1), "padding": (0, 0), "output_padding": (0, 0), "dilation": (1, 1),
                    "groups": 1, "use_bias": True}  # fmt: skip
        if more["padding"] == "valid":
            more["padding"] = (0, 0)
        return ("conv_transpose" if transpose else "conv"), args | without_defaults(more, defaults)

    def fixed_conv(self, n: fx.Node, m):
        kernel = m.weight.detach()
        matrix = kernel[0, 0]
        if not bool((kernel == matrix).all()):
            return self.refuse(n, "a fixed convolution whose kernel differs between channels")
        rows = tuple(tuple(float(v) for v in row) for row in matrix.tolist())
        kind, args = self.conv(n, m, "")
        args.pop("use_bias", None)
        args["weights"] = rows
        return kind, args

    def pool(self, n: fx.Node, m, path: str):
        kind = "maxpool" if isinstance(m, nn.MaxPool2d) else "avgpool"
        if kind == "maxpool" and (pair(m.dilation) != (1, 1) or m.return_indices):
            return self.refuse(n, "max pooling with dilation or indices", path)
        if kind == "avgpool" and m.divisor_override is not None:
            return self.refuse(n, "average pooling with divisor_override", path)
        return self.pool_args(kind, m.kernel_size, m.stride, m.padding, m.ceil_mode,
                              getattr(m, "count_include_pad", True))  # fmt: skip

    def pool_args(self, kind, size, stride, padding, ceil_mode, count_include_pad):
        size = pair(size)
        stride = pair(stride) if stride else size
        args = {"pool_size": size, **({"strides": stride} if stride != size else {})}
        args |= without_defaults(
            {"padding": pair(padding), "ceil_mode": ceil_mode}, {"padding": (0, 0), "ceil_mode": False}
        )
        if kind == "avgpool" and not count_include_pad:
            args["count_include_pad"] = False
        return kind, args

    def adaptive(self, n: fx.Node, which: str, size, where: str):
        size = pair(size)
        if size == (1, 1):
            return f"global_{which}pool", {}
        if which == "avg" and None not in size:
            return "adaptive_avgpool", {"output_size": size}
        return self.refuse(n, f"adaptive {which} pooling to {size}", where)

    def upsample(self, n: fx.Node, scale, mode, align_corners, where: str):
        if scale is None or mode not in ("nearest", "bilinear"):
            return self.refuse(n, f"upsampling by size or in mode {mode!r}", where)
        scale = tuple(int(s) for s in pair(scale)) if all(float(s).is_integer() for s in pair(scale)) else None
        if scale is None:
            return self.refuse(n, "upsampling by a fractional scale", where)
        args = without_defaults({"scale": scale, "mode": mode}, {"scale": (2, 2), "mode": "nearest"})
        if mode == "bilinear" and align_corners:
            args["align_corners"] = True
        return "upsample", args

    # --- functions --------------------------------------------------------------------------------

    def function(self, n: fx.Node) -> None:
        f, args, kwargs = n.target, n.args, n.kwargs
        tensors = [a for a in args if isinstance(a, fx.Node)]
        if f in _ACTIVATION_FUNCTIONS:
            return self.functional_activation(n, _ACTIVATION_FUNCTIONS[f])
        if f in _MUL and len(args) == 2 and not kwargs and len(tensors) == 2:
            scales = [a for a in tensors if a.name in self.attrs]
            if len(scales) == 1:
                return self.layer_scale(n, next(a for a in tensors if a is not scales[0]), scales[0])
        if f in _ADD or f in _MUL:
            if len(tensors) != 2 or len(args) != 2 or kwargs.get("alpha", 1) != 1:
                return self.refuse(n, f"{getattr(f, '__name__', f)} with a constant")
            kind = "add" if f in _ADD else "multiply"
            self.add(n, kind, tensors)
            return None
        if f is torch.cat:
            dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
            if dim not in (1, -3) or not isinstance(args[0], (list, tuple)):
                return self.refuse(n, f"torch.cat over dimension {dim}")
            self.add(n, "concat", list(args[0]))
            return None
        if f is torch.flatten:
            start = args[1] if len(args) > 1 else kwargs.get("start_dim", 0)
            if start != 1:
                return self.refuse(n, f"torch.flatten from dimension {start}")
            self.add(n, "flatten", [args[0]])
            return None
        if f in (F.max_pool2d, F.avg_pool2d):
            return self.functional_pool(n, "maxpool" if f is F.max_pool2d else "avgpool")
        if f in (F.adaptive_avg_pool2d, F.adaptive_max_pool2d):
            size = args[1] if len(args) > 1 else kwargs["output_size"]
            which = "avg" if f is F.adaptive_avg_pool2d else "max"
            kind_args = self.adaptive(n, which, size, "")
            if kind_args:
                self.add(n, kind_args[0], [args[0]], kind_args[1])
            return None
        if f is F.dropout:
            p = args[1] if len(args) > 1 else kwargs.get("p", 0.5)
            self.add(n, "dropout", [args[0]], without_defaults({"rate": p}, {"rate": 0.5}))
            return None
        if f is F.local_response_norm:
            names = ("size", "alpha", "beta", "k")
            values = dict(zip(names, args[1:], strict=False)) | {k: v for k, v in kwargs.items() if k in names}
            self.add(n, "lrn", [args[0]], without_defaults(values, {"alpha": 1e-4, "beta": 0.75, "k": 1.0}))
            return None
        if f is F.interpolate:
            kind_args = self.upsample(n, kwargs.get("scale_factor"), kwargs.get("mode", "nearest"),
                                      kwargs.get("align_corners"), "")  # fmt: skip
            if kind_args:
                self.add(n, kind_args[0], [args[0]], kind_args[1])
            return None
        if f is torch.chunk:
            return self.chunk(n)
        if f is operator.getitem:
            return self.getitem(n)
        if f in self.shuffles:
            groups = args[1] if len(args) > 1 else kwargs.get("groups")
            if not isinstance(groups, int) or len(tensors) != 1:
                return self.refuse(n, "channel_shuffle with groups that are no constant")
            self.add(n, "channel_shuffle", tensors, without_defaults({"groups": groups}, {"groups": 2}))
            return None
        if f is F.pad:
            return self.pad(n)
        if f is torch.permute:
            return self.functional_permute(n, args[1] if len(args) > 1 else kwargs.get("dims"))
        name = getattr(f, "__name__", str(f))
        if name == "upsample_zeros":
            self.add(n, "upsample", [args[0]], {"scale": pair(args[1]), "mode": "zeros"})
            return None
        return self.refuse(n, f"{getattr(f, '__module__', '') or ''}.{name}".lstrip("."))

    def functional_activation(self, n: fx.Node, kind: str) -> None:
        args, kwargs = n.args, n.kwargs
        extra = {}
        if kind == "softmax":
            dim = args[1] if len(args) > 1 else kwargs.get("dim")
            if dim not in (1, -1):
                return self.refuse(n, f"softmax over dimension {dim}")
        if kind == "leaky_relu":
            slope = args[1] if len(args) > 1 else kwargs.get("negative_slope", 0.01)
            extra = {"alpha": slope} if slope != 0.01 else {}
        if kind == "elu":
            alpha = args[1] if len(args) > 1 else kwargs.get("alpha", 1.0)
            extra = {"alpha": alpha} if alpha != 1.0 else {}
        x = args[0]
        inplace = bool(kwargs.get("inplace", False))
        producer = self.by_name.get(self.ref(x))
        g = self.add(n, kind, [x], extra)
        # `F.relu(self.conv(x))`, as cnndsl writes `activation=`: the writer may fold it into the layer, where
        # it takes no position of its own (an in-place call is always a statement of its own: `relu()`).
        g.fusable = (
            producer is not None and producer.kind in ("conv", "conv_transpose", "dense") and not inplace
            and not extra and "activation" not in producer.args and self.users[x.name] == 1
        )  # fmt: skip
        return None

    def functional_pool(self, n: fx.Node, kind: str) -> None:
        names = ("kernel_size", "stride", "padding", "dilation" if kind == "maxpool" else "ceil_mode")
        values = dict(zip(names, n.args[1:], strict=False)) | dict(n.kwargs)
        if kind == "maxpool" and pair(values.get("dilation", 1)) != (1, 1):
            return self.refuse(n, "max pooling with dilation")
        _, args = self.pool_args(kind, values["kernel_size"], values.get("stride"), values.get("padding", 0),
                                 values.get("ceil_mode", False), values.get("count_include_pad", True))  # fmt: skip
        self.add(n, kind, [n.args[0]], args)
        return None

    def functional_permute(self, n: fx.Node, dims) -> None:
        kind_args = self.permute(n, tuple(dims or ()), "")
        if kind_args:
            self.add(n, kind_args[0], [n.args[0]])

    def pad(self, n: fx.Node) -> None:
        self.refuse(n, "F.pad (explicit padding outside a convolution or pooling)")

    def chunk(self, n: fx.Node) -> None:
        """`x.chunk(k, dim=1)` gives nothing by itself: each `[i]` of it is the op `chunk(k, i)`."""
        names = ("input", "chunks", "dim")
        values = dict(zip(names, n.args, strict=False)) | dict(n.kwargs)
        if not isinstance(values.get("chunks"), int) or values.get("dim", 0) not in (1, -3):
            return self.refuse(n, "a chunk that is not of channels (dim=1) in a constant number")
        self.chunks[n.name] = (values["input"], values["chunks"])
        return None

    def getitem(self, n: fx.Node) -> None:
        source, index = n.args
        if isinstance(source, fx.Node) and source.name in self.chunks and isinstance(index, int):
            x, chunks = self.chunks[source.name]
            self.add(n, "chunk", [x], {"chunks": chunks, "index": index % chunks})
            return None
        return self.refuse(n, "indexing or splitting a tensor")

    # --- methods ----------------------------------------------------------------------------------

    def method(self, n: fx.Node) -> None:
        name = n.target
        if name in _ACTIVATION_METHODS and len(n.args) == 1:
            self.add(n, _ACTIVATION_METHODS[name], [n.args[0]])
        elif name in ("relu_", "sigmoid_"):
            self.add(n, name[:-1], [n.args[0]])
        elif name in ("add", "add_", "mul", "mul_") and len(n.args) == 2 and isinstance(n.args[1], fx.Node):
            self.add(n, "add" if name.startswith("add") else "multiply", list(n.args))
        elif name == "chunk":
            self.chunk(n)
        elif name == "permute":
            dims = n.args[1] if len(n.args) == 2 and isinstance(n.args[1], (tuple, list)) else n.args[1:]
            self.functional_permute(n, dims)
        elif name == "flatten" and tuple(n.args[1:]) in ((1,), (1, -1)):
            self.add(n, "flatten", [n.args[0]])
        elif name == "mean" and _dims(n) == {2, 3} and n.kwargs.get("keepdim", len(n.args) > 2 and n.args[2]):
            self.add(n, "global_avgpool", [n.args[0]])
        else:
            self.refuse(n, f"Tensor.{name}()")


def scale_init(gamma) -> float:
    """The value a layer scale starts from, where the model still holds one (a trained one does not; the
    weights follow), as float32 holds it: 1e-6, not 9.99999997e-07."""
    if not gamma.is_meta and bool((gamma == gamma.flatten()[0]).all()):
        return float(f"{float(gamma.flatten()[0]):.6g}")
    return 1e-6


def _is_stochastic_depth(m: nn.Module) -> bool:
    """torchvision.ops.StochasticDepth, or the module of that name cnndsl's PyTorch code writes (no weights;
    traced through, it would vanish in inference mode)."""
    return type(m).__name__ == "StochasticDepth" and hasattr(m, "p") and getattr(m, "mode", None) in ("row", "batch")


def _is_permute(m: nn.Module) -> bool:
    """torchvision's Permute (ConvNeXt), or the module of that name cnndsl's PyTorch code writes."""
    return type(m).__name__ == "Permute" and isinstance(getattr(m, "dims", None), (list, tuple))


def _owner(g: GNode) -> str:
    """The module a node is written in (as the writer places it)."""
    return g.path.rsplit(".", 1)[0] if "." in g.path else ("" if g.path else g.scope)


def _within(path: str | None, module: str) -> bool:
    return path is not None and (path == module or path.startswith(f"{module}."))


def _shuffles(model: nn.Module) -> tuple:
    """The `channel_shuffle(x, groups)` functions the modules' code calls (torchvision's, and cnndsl's own
    PyTorch code's): traced as one call, read back as the op."""
    found = []
    for m in model.modules():
        f = getattr(type(m).forward, "__globals__", {}).get("channel_shuffle")
        if isinstance(f, types.FunctionType) and f not in found:
            found.append(f)
    return tuple(found)


def _user_frame(e: BaseException) -> str:
    """file:line of the model's own code where tracing failed (the last frame outside torch)."""
    import traceback

    frames = [f for f in traceback.extract_tb(e.__traceback__) if "/torch/" not in f.filename]
    frames = [f for f in frames if "/cnndsl/" not in f.filename]
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""


def _dims(n: fx.Node) -> set:
    dims = n.args[1] if len(n.args) > 1 else n.kwargs.get("dim", ())
    return {d % 4 for d in (dims if isinstance(dims, (tuple, list)) else [dims])}
