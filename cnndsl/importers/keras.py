"""Keras frontend: a Keras 3 functional (or Sequential) model becomes a neutral `Graph`.

Every layer keeps its own name as its label (`conv2_block1_1_conv`), and cnndsl's Keras backend names a
labelled layer after its label, so the compiled import has the original's layer names and takes its weights
layer by layer (`keras_weights`). Shapes are channels-last in Keras and channels-first in cnndsl: the input's
(H, W, C) becomes (C, H, W); a `Flatten` that only dense layers read stays channels-last in the compiled
Keras model, so the dense kernels need no permutation. A `ZeroPadding2D` becomes the padding of the
convolution or pooling it feeds (TensorFlow's asymmetric split is `padding=same`).
"""

from __future__ import annotations

import dataclasses
import re

from ..errors import CnnDslError
from ..ir import MODULE_NAME
from ..ops import PER_POSITION, PRESETS, REGISTRY, preset_kernel, same_pads
from .graph import GNode, Graph, ImportRefused, infer_shapes, pair, without_defaults

# Keras activation functions (by their __name__) -> cnndsl's; "linear" is none.
_ACTIVATIONS = {
    "relu": "relu", "relu6": "relu6", "sigmoid": "sigmoid", "tanh": "tanh", "softmax": "softmax", "silu": "silu",
    "swish": "silu", "gelu": "gelu", "elu": "elu", "hard_sigmoid": "hardsigmoid", "hard_silu": "hardswish",
    "hard_swish": "hardswish", "linear": None,
}  # fmt: skip
_NONNEGATIVE = {"relu", "relu6", "sigmoid", "softmax", "hardsigmoid"}
# Ops whose output is non-negative when every input is (a max pooling after them may be padded with zeros).
_KEEPS_SIGN = {"maxpool", "avgpool", "global_avgpool", "global_maxpool", "dropout", "flatten", "concat", "add",
               "multiply", "chunk", "channel_shuffle", "stochastic_depth"}  # fmt: skip
_MERGES = {"Add": "add", "Concatenate": "concat", "Multiply": "multiply"}
# The layers that act on each position's channels alone (cnndsl's PER_POSITION), by Keras class: they read a
# map held channels-last as well as one held channels-first; a dense layer on a map needs it channels-last.
_PER_POSITION = {"Dense": "dense", "LayerNormalization": "layernorm", "Activation": "activation", "ReLU": "activation",
                 "Dropout": "dropout", "Identity": "identity"}  # fmt: skip


def _op_defaults(kind: str, args: dict) -> dict:
    """`args` without those that have the op's default value."""
    fields = dataclasses.fields(REGISTRY[kind])
    return without_defaults(args, {f.name: f.default for f in fields if f.default is not dataclasses.MISSING})


def _fixed_weights(matrix):
    """A fixed kernel's `weights=`: a preset's name where the matrix is one (`box`, `sobel_x`; `gaussian`
    with its sigma), else the matrix's rows."""
    import numpy as np

    size = matrix.shape
    presets = [("box", None)] + [(name, None) for name in PRESETS if size == (3, 3)]
    c = (size[0] // 2, size[1] // 2)
    if size[0] % 2 and size[1] > 1 and 0 < matrix[c[0], c[1] + 1] < matrix[c]:  # sigma from the centre's neighbour
        sigma = float(np.sqrt(-1 / (2 * np.log(matrix[c[0], c[1] + 1] / matrix[c]))))
        presets.append(("gaussian", float(f"{sigma:.6g}")))
    for name, sigma in presets:
        if np.allclose(matrix, preset_kernel(name, size, sigma or 1.0), rtol=1e-6, atol=1e-7):
            return {"weights": name, **({"sigma": sigma} if sigma not in (None, 1.0) else {})}
    return {"weights": tuple(tuple(float(v) for v in row) for row in matrix)}


def convert(model, name: str) -> Graph:
    return _Converter(model, name).graph()


class _Converter:
    def __init__(self, model, name: str):
        self.model = model
        self.name = name
        self.nodes: list[GNode] = []
        self.by_name: dict[str, GNode] = {}
        self.alias: dict[str, str] = {}  # a layer that is no op (Identity, a folded ZeroPadding2D) -> its input
        self.pads: dict[str, tuple] = {}  # a ZeroPadding2D's name -> ((top, bottom), (left, right))
        self.last: set[str] = set()  # the nodes whose output is a map held channels-last (read by dense layers)
        self.nested: dict[int, str] = {}  # a nested model's input layer (by id) -> what the model reads
        self.layers: dict[str, object] = {}  # every layer by name
        # the Flattens of a map (larger than 1×1) in Keras' H·W·C order: `text` checks that the compiled import
        # flattens them so too
        self.flattens: set[str] = set()
        self.problems: list[tuple[str, str]] = []
        self.input = ""

    def graph(self) -> Graph:
        inputs = getattr(self.model, "inputs", None) or []
        if len(inputs) != 1:
            raise ImportRefused([(f"{len(inputs)} inputs", self.model.name)], self.name)
        shape = tuple(inputs[0].shape[1:])
        if len(shape) == 3:
            shape = (shape[2], shape[0], shape[1])
        elif len(shape) != 1:
            raise ImportRefused([(f"an input of rank {len(shape) + 1}", self.model.name)], self.name)
        shape = tuple(d if d else "?" for d in shape)
        self.input = inputs[0]._keras_history.operation.name
        self.walk(self.model, self.input)
        if self.problems:
            raise ImportRefused(self.problems, self.name)
        outputs = [self.ref(self.source(t)) for t in self.model.outputs]
        graph = Graph(self.name, self.input, shape, self.nodes, outputs)
        infer_shapes(graph)
        return graph

    def walk(self, model, previous: str) -> None:
        """Convert the layers of `model`; a nested model (a keras.applications model in a Sequential with a
        head) is converted in place, its layers keeping their names."""
        for layer in model.layers:
            if type(layer).__name__ == "InputLayer":
                continue
            sources = self.sources(layer, previous)
            self.layers[layer.name] = layer
            if sources is not None and getattr(layer, "layers", None) is not None:
                self.walk_nested(layer, sources)
            elif sources is not None:
                self.convert(layer, self.channels(layer, sources))
            previous = layer.name

    def walk_nested(self, model, sources: list[str]) -> None:
        inputs, outputs = getattr(model, "inputs", None) or [], getattr(model, "outputs", None) or []
        if len(inputs) != 1 or len(outputs) != 1 or len(sources) != 1:
            return self.refuse(model, f"a nested model with {len(inputs)} inputs and {len(outputs)} outputs")
        entry = inputs[0]._keras_history.operation
        self.nested[id(entry)] = sources[0]
        self.walk(model, sources[0])
        self.alias[model.name] = self.source(outputs[0])

    def source(self, tensor) -> str:
        """The name of the layer a tensor comes from (a nested model's input: what the model reads)."""
        operation = tensor._keras_history.operation
        return self.nested.get(id(operation), operation.name)

    def sources(self, layer, previous: str) -> list[str] | None:
        """The names of the layers `layer` reads (in a Sequential model: the one before it)."""
        nodes = getattr(layer, "_inbound_nodes", [])
        if len(nodes) > 1:
            self.problems.append(("a layer called twice (shared weights)", layer.name))
            return None
        if not nodes:
            return [previous]
        return [self.source(t) for t in nodes[0].input_tensors]

    def channels(self, layer, sources: list[str]) -> list[str]:
        """Where a map held channels-last (as dense layers on a map need it) meets a layer that needs it
        channels-first, a `channels_first()` between them; before a dense layer on a map, `channels_last()`."""
        per_position = _PER_POSITION.get(type(layer).__name__)
        if getattr(layer, "noise_shape", None) is not None:  # stochastic depth
            per_position = None
        out = []
        for source in sources:  # names, not refs: a ZeroPadding2D before a convolution is its padding
            x = self.ref(source)
            if per_position == "dense" and len(layer.input.shape) == 4 and x not in self.last:
                source = self.add(layer, "channels_last", [x], label=False, suffix="channels_last").name
                self.last.add(source)
            elif per_position is None and x in self.last:
                source = self.add(layer, "channels_first", [x], label=False, suffix="channels_first").name
            out.append(source)
        return out

    def ref(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def add(self, layer, kind: str, inputs: list[str], args: dict | None = None, label: bool = True,
            suffix: str = "", name: str = "") -> GNode:  # fmt: skip
        """A node for `layer`, labelled with its name (or `name`); unlabelled (`label=False`), it stands for
        the layer unless it is a `suffix` node before it (`channels_last`)."""
        name = name or (layer.name if label else f"{layer.name}/{suffix or kind}")
        if name in self.by_name:
            self.refuse(layer, f"two layers named {name!r} (a nested model's and another)")
        inputs = [self.ref(i) for i in inputs]
        g = GNode(name, kind, inputs, args or {}, name if label else "", "", where=name if label else layer.name)
        self.nodes.append(g)
        self.by_name[g.name] = g
        if not label and not suffix:
            self.alias[layer.name] = g.name
        per_position = kind in PER_POSITION or (kind in _ACTIVATIONS.values() and kind != "softmax")
        if per_position and any(i in self.last for i in inputs):
            self.last.add(g.name)
        return g

    def refuse(self, layer, what: str) -> None:
        self.problems.append((what, layer.name))

    def convert(self, layer, inputs: list[str]) -> None:
        cls = type(layer).__name__
        if getattr(layer, "data_format", "channels_last") != "channels_last":
            return self.refuse(layer, f"{cls} with data_format={layer.data_format!r}")
        method = getattr(self, f"layer_{cls}", None)
        if cls in _MERGES:
            return self.merge(layer, inputs, _MERGES[cls])
        if method is None:
            what = "preprocessing: apply it to the inputs" if cls in ("Rescaling", "Normalization") else "no .cnn op"
            return self.refuse(layer, f"{cls} ({what})")
        return method(layer, inputs)

    def activation_name(self, layer, fn) -> str | None | bool:
        """cnndsl's name of a Keras activation function (None: linear; False: refused)."""
        name = getattr(fn, "__name__", str(fn))
        if name not in _ACTIVATIONS:
            self.refuse(layer, f"the activation {name!r}")
            return False
        return _ACTIVATIONS[name]

    def padding(self, layer, inputs: list[str], kernel, strides, pool: bool):
        """(the layer's input, cnndsl's padding) with a ZeroPadding2D before it folded in."""
        source = inputs[0]
        if layer.padding == "same":
            return source, "same"
        if source not in self.pads:
            return source, (0, 0)
        x = self.alias[source]
        if self.pads[source] == "same":
            return x, "same"
        (t, b), (le, r), shape = self.pads[source]
        if pool and layer.__class__.__name__ == "MaxPooling2D" and not self.nonnegative(x):
            self.refuse(layer, "max pooling after ZeroPadding2D of values that may be negative")
            return x, (0, 0)
        if t == b and le == r:
            return x, (t, le)
        same = [same_pads(size, k, st) for size, k, st in zip(shape, kernel, strides)] if None not in shape else []
        if same == [(t, b), (le, r)]:
            return x, "same"
        self.refuse(layer, f"ZeroPadding2D {((t, b), (le, r))} that is neither symmetric nor TensorFlow's 'same'")
        return x, (0, 0)

    def nonnegative(self, name: str) -> bool:
        n = self.by_name.get(self.ref(name))
        if n is None:
            return False
        if n.kind in _KEEPS_SIGN:
            return all(self.nonnegative(i) for i in n.inputs)
        return n.kind in _NONNEGATIVE or n.args.get("activation") in _NONNEGATIVE

    # --- layers -------------------------------------------------------------------------------------------

    def layer_ZeroPadding2D(self, layer, inputs):
        (t, b), (le, r) = layer.padding
        self.pads[layer.name] = ((t, b), (le, r), tuple(layer.input.shape[1:3]))
        self.alias[layer.name] = inputs[0]

    def layer_Identity(self, layer, inputs):
        self.alias[layer.name] = inputs[0]

    def conv_args(self, layer, inputs, filters: int, groups: int, use_bias: bool, name: str = ""):
        """A convolution node for `layer` (`name`: the depthwise half of a separable one, with neither fixed
        weights nor activation)."""
        kernel, strides = pair(layer.kernel_size), pair(layer.strides)
        x, padding = self.padding(layer, inputs, kernel, strides, pool=False)
        dilation = pair(layer.dilation_rate)
        if padding == "same" and strides == (1, 1) and all(k % 2 for k in kernel):  # as much as the kernel reaches
            padding = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation))
        args = {"filters": filters, "kernel_size": kernel}
        more = {"strides": strides, "padding": padding, "dilation": dilation, "groups": groups,
                "use_bias": use_bias}  # fmt: skip
        defaults = {"strides": (1, 1), "padding": (0, 0), "dilation": (1, 1), "groups": 1, "use_bias": True}
        args |= without_defaults(more, defaults)
        if name:
            return self.add(layer, "conv", [x], args, name=name)
        fixed = self.fixed(layer)
        if fixed:
            args.pop("use_bias")
            args |= fixed
        self.with_activation(layer, "conv", [x], args)

    def with_activation(self, layer, kind: str, inputs: list[str], args: dict) -> None:
        activation = self.activation_name(layer, layer.activation)
        if activation:
            args["activation"] = activation
        if activation is not False:
            self.add(layer, kind, inputs, args)

    def fixed(self, layer) -> dict:
        """`weights=` of a frozen convolution without bias whose kernel is one matrix for every channel (a fixed
        filter, as cnndsl's Keras code writes `weights=sobel_x`); {} for any other."""
        if layer.trainable or layer.use_bias:
            return {}
        kernel = layer.get_weights()[0]  # (h, w, in, out) or, depthwise, (h, w, in, multiplier)
        matrix = kernel[:, :, 0, 0]
        if not (kernel == matrix[:, :, None, None]).all():
            return {}
        return _fixed_weights(matrix)

    def layer_Conv2D(self, layer, inputs):
        self.conv_args(layer, inputs, layer.filters, layer.groups, layer.use_bias)

    def layer_DepthwiseConv2D(self, layer, inputs):
        channels = layer.input.shape[-1]
        self.conv_args(layer, inputs, channels * layer.depth_multiplier, channels, layer.use_bias)

    def layer_SeparableConv2D(self, layer, inputs):
        """A depthwise convolution labelled `<name>_depthwise`, then a 1×1 one labelled `<name>` (keras_weights
        splits the layer's weights between them)."""
        channels = layer.input.shape[-1]
        depthwise = f"{layer.name}_depthwise"
        self.conv_args(layer, inputs, channels * layer.depth_multiplier, channels, False, name=depthwise)
        args = {"filters": layer.filters, "kernel_size": (1, 1), **({} if layer.use_bias else {"use_bias": False})}
        self.with_activation(layer, "conv", [depthwise], args)

    def layer_SamePadding2D(self, layer, inputs):  # cnndsl's, before a strided and dilated convolution
        self.pads[layer.name] = "same"
        self.alias[layer.name] = inputs[0]

    def layer_Conv2DTranspose(self, layer, inputs):
        kernel, strides = pair(layer.kernel_size), pair(layer.strides)
        if pair(layer.dilation_rate) != (1, 1):
            return self.refuse(layer, "Conv2DTranspose with dilation")
        if layer.padding == "same":
            padding, extra = "same", (0, 0)
        elif layer.output_padding is None:  # Keras makes at least in · strides: PyTorch's output_padding
            padding, extra = (0, 0), tuple(max(s - k, 0) for k, s in zip(kernel, strides))
        else:
            padding, extra = (0, 0), pair(layer.output_padding)
        self.transpose(layer, inputs, padding, extra, (1, 1), 1)

    def layer_ConvTranspose2D(self, layer, inputs):  # cnndsl's, with groups or dilation
        self.transpose(layer, inputs, layer.padding, layer.output_padding, layer.dilation_rate, layer.groups)

    def transpose(self, layer, inputs, padding, extra, dilation, groups):
        args = {"filters": layer.filters, "kernel_size": pair(layer.kernel_size), "strides": pair(layer.strides),
                "padding": padding, "output_padding": tuple(extra), "dilation": pair(dilation), "groups": groups,
                "use_bias": layer.use_bias}  # fmt: skip
        self.with_activation(layer, "conv_transpose", inputs, _op_defaults("conv_transpose", args))

    def layer_Cropping2D(self, layer, inputs):
        """The padding of the transposed convolution before it (as cnndsl's Keras code writes PyTorch's)."""
        (t, b), (le, r) = layer.cropping
        n = self.by_name.get(inputs[0])
        folds = n is not None and n.kind == "conv_transpose" and n.args.get("padding", (0, 0)) == (0, 0)
        if not folds or t != le or not self.only_reader(n):
            return self.refuse(layer, "Cropping2D other than after a transposed convolution")
        extra = [e + p - q for e, p, q in zip(n.args.get("output_padding", (0, 0)), (t, le), (b, r))]
        if min(extra) < 0 or any(e >= s for e, s in zip(extra, n.args.get("strides", (1, 1)))):
            return self.refuse(layer, f"Cropping2D {layer.cropping} after a transposed convolution")
        n.args |= {"padding": (t, t), "output_padding": tuple(extra)}
        n.args = _op_defaults("conv_transpose", n.args)
        self.alias[layer.name] = n.name

    def layer_BatchNormalization(self, layer, inputs):
        if layer.axis not in (-1, 3, [3], [-1]) or not (layer.center and layer.scale):
            return self.refuse(layer, "BatchNormalization over another axis than channels, or without beta/gamma")
        args = {"eps": layer.epsilon, "momentum": round(1 - layer.momentum, 12)}
        args = without_defaults(args, {"eps": 1e-5, "momentum": 0.1})
        self.add(layer, "batchnorm", inputs, args)

    def layer_Activation(self, layer, inputs):
        kind = self.activation_name(layer, layer.activation)
        if kind is None:
            self.alias[layer.name] = inputs[0]
        elif kind:
            self.add(layer, kind, inputs)

    def layer_ReLU(self, layer, inputs):
        if float(layer.negative_slope) != 0 or float(layer.threshold) != 0:
            return self.refuse(layer, "ReLU with a negative slope or a threshold")
        if layer.max_value is None:
            return self.add(layer, "relu", inputs)
        if float(layer.max_value) == 6:
            return self.add(layer, "relu6", inputs)
        self.refuse(layer, f"ReLU with max_value={layer.max_value}")

    def layer_Softmax(self, layer, inputs):
        if layer.axis not in (-1, [-1]):
            return self.refuse(layer, f"Softmax over axis {layer.axis}")
        self.add(layer, "softmax", inputs)

    def pool(self, layer, inputs, kind: str):
        size, strides = pair(layer.pool_size), pair(layer.strides or layer.pool_size)
        x, padding = self.padding(layer, inputs, size, strides, pool=True)
        args = {"pool_size": size, **({"strides": strides} if strides != size else {})}
        if padding != (0, 0):
            args["padding"] = padding
        if kind == "avgpool" and padding == "same":  # TensorFlow's mean leaves the padding out
            args["count_include_pad"] = False
        self.add(layer, kind, [x], args)

    def layer_MaxPooling2D(self, layer, inputs):
        n = self.by_name.get(self.ref(inputs[0]))
        strided = pair(layer.pool_size) == (1, 1) and layer.padding == "valid" and n is not None
        if strided and n.kind == "conv" and n.args.get("strides", (1, 1)) == (1, 1) and self.only_reader(n):
            # every strides-th output of a convolution: cnndsl's Keras code so writes one with strides and
            # dilation, which Keras refuses together
            n.args["strides"] = pair(layer.strides)
            self.alias[layer.name] = n.name
            return
        self.pool(layer, inputs, "maxpool")

    def only_reader(self, n: GNode) -> bool:
        """Whether one layer alone reads node `n`'s layer."""
        return len(self.layers[n.where]._outbound_nodes) == 1

    def layer_AveragePooling2D(self, layer, inputs):
        self.pool(layer, inputs, "avgpool")

    def global_pool(self, layer, inputs, kind: str):
        self.add(layer, kind, inputs)
        if not layer.keepdims:  # Keras' (C,) is cnndsl's (C, 1, 1) flattened
            self.add(layer, "flatten", [layer.name], label=False)

    def layer_GlobalAveragePooling2D(self, layer, inputs):
        self.global_pool(layer, inputs, "global_avgpool")

    def layer_GlobalMaxPooling2D(self, layer, inputs):
        self.global_pool(layer, inputs, "global_maxpool")

    def layer_AdaptiveAveragePooling2D(self, layer, inputs):  # cnndsl's
        self.add(layer, "adaptive_avgpool", inputs, {"output_size": pair(layer.output_size)})

    def layer_UpSampling2D(self, layer, inputs):
        if layer.interpolation not in ("nearest", "bilinear"):
            return self.refuse(layer, f"UpSampling2D with interpolation={layer.interpolation!r}")
        self.upsample(layer, inputs, {"mode": layer.interpolation})

    def layer_AlignedBilinearUpSampling2D(self, layer, inputs):  # cnndsl's
        self.upsample(layer, inputs, {"mode": "bilinear", "align_corners": True})

    def layer_ZeroInsertionUpSampling2D(self, layer, inputs):  # cnndsl's
        self.upsample(layer, inputs, {"mode": "zeros"})

    def upsample(self, layer, inputs, args):
        self.add(layer, "upsample", inputs, _op_defaults("upsample", {"scale": pair(layer.size), **args}))

    def layer_LocalResponseNormalization(self, layer, inputs):  # cnndsl's
        args = {"size": layer.size, "alpha": layer.alpha, "beta": layer.beta, "k": layer.k}
        self.add(layer, "lrn", inputs, _op_defaults("lrn", args))

    def layer_LayerNormalization(self, layer, inputs):
        axis = layer.axis
        if axis not in (-1, [-1], len(layer.input.shape) - 1, [len(layer.input.shape) - 1]):
            return self.refuse(layer, f"LayerNormalization over axis {axis} (cnndsl's is over channels)")
        if not (layer.center and layer.scale) or getattr(layer, "rms_scaling", False):
            return self.refuse(layer, "LayerNormalization without beta and gamma")
        self.add(layer, "layernorm", inputs, _op_defaults("layernorm", {"eps": float(layer.epsilon)}))

    def layer_LayerScale(self, layer, inputs):  # cnndsl's, or keras.applications.ConvNeXt's
        init = getattr(layer, "init", getattr(layer, "init_values", None))
        if init is None:
            return self.refuse(layer, "LayerScale (no .cnn op)")
        self.add(layer, "layer_scale", inputs, _op_defaults("layer_scale", {"init": float(init)}))

    def layer_Permute(self, layer, inputs):
        """cnndsl's Keras code writes `Permute((3, 1, 2))` before a Flatten for PyTorch's C·H·W order: the two
        are `flatten`. Any other permutation has no .cnn op."""
        readers = [node.operation for node in layer._outbound_nodes]
        if not _to_chw(layer) or len(readers) != 1 or type(readers[0]).__name__ != "Flatten":
            what = f"Permute({tuple(layer.dims)}) (only Permute((3, 1, 2)) before a Flatten: flatten)"
            return self.refuse(layer, what)
        self.alias[layer.name] = inputs[0]

    def layer_Flatten(self, layer, inputs):
        shape = tuple(layer.input.shape[1:])
        chw = _to_chw(layer.input._keras_history.operation)
        if not chw and len(shape) == 3 and None not in shape and shape[0] * shape[1] > 1:
            self.flattens.add(layer.name)
        self.add(layer, "flatten", inputs)

    def layer_Dropout(self, layer, inputs):
        noise = tuple(layer.noise_shape) if layer.noise_shape is not None else None
        if noise is None:
            return self.add(layer, "dropout", inputs, without_defaults({"rate": float(layer.rate)}, {"rate": 0.5}))
        # whole samples (None, 1, 1, 1) or the whole batch (1, 1, 1, 1): keras.applications' stochastic depth
        if any(d != 1 for d in noise[1:]) or noise[0] not in (None, 1):
            return self.refuse(layer, f"Dropout with noise_shape={noise}")
        mode = {"mode": "batch"} if noise[0] == 1 else {}
        self.add(layer, "stochastic_depth", inputs, {"p": float(layer.rate), **mode})

    def layer_Chunk(self, layer, inputs):  # cnndsl's own layers (cnndsl.runtime.keras_layers)
        self.add(layer, "chunk", inputs, {"chunks": layer.chunks, "index": layer.index})

    def layer_ChannelShuffle(self, layer, inputs):
        self.add(layer, "channel_shuffle", inputs, without_defaults({"groups": layer.groups}, {"groups": 2}))

    def padded_pool(self, layer, inputs, kind: str):
        size, strides = pair(layer.pool_size), pair(layer.strides)
        args = {"pool_size": size, **({"strides": strides} if strides != size else {})}
        more = {"padding": layer.padding, "ceil_mode": layer.ceil_mode}
        if kind == "avgpool":
            more["count_include_pad"] = layer.count_include_pad
        defaults = {"padding": (0, 0), "ceil_mode": False, "count_include_pad": True}
        self.add(layer, kind, inputs, args | without_defaults(more, defaults))

    def layer_PaddedMaxPooling2D(self, layer, inputs):
        self.padded_pool(layer, inputs, "maxpool")

    def layer_PaddedAveragePooling2D(self, layer, inputs):
        self.padded_pool(layer, inputs, "avgpool")

    def layer_Dense(self, layer, inputs):
        args = {"units": layer.units, **({} if layer.use_bias else {"use_bias": False})}
        self.with_activation(layer, "dense", inputs, args)

    def merge(self, layer, inputs, kind: str):
        if kind == "concat" and layer.axis not in (-1, 3):
            return self.refuse(layer, f"Concatenate over axis {layer.axis}")
        self.add(layer, kind, inputs)


def _to_chw(layer) -> bool:
    """Whether `layer` is a Permute((3, 1, 2)): a map channels-first again, as before PyTorch's flatten."""
    return type(layer).__name__ == "Permute" and tuple(layer.dims) == (3, 1, 2)


def _leaves(model) -> list:
    """The layers of `model`, those of nested models in their place."""
    out = []
    for layer in model.layers:
        out += _leaves(layer) if getattr(layer, "layers", None) is not None else [layer]
    return out


def keras_weights(original, compiled) -> None:
    """Copy the weights of every layer of `original` (of its nested models too) into the layer of the same
    name of `compiled` (the Keras model of its import)."""
    from ..errors import InputError

    for layer in _leaves(original):
        weights = layer.get_weights()
        parts = [(layer.name, weights)]
        if type(layer).__name__ == "SeparableConv2D":  # imported as a depthwise and a pointwise convolution
            parts = [(f"{layer.name}_depthwise", weights[:1]), (layer.name, weights[1:])]
        for name, part in parts if weights else []:
            try:
                target = compiled.get_layer(name)
            except ValueError:
                raise InputError(f"the compiled import has no layer {name!r}") from None
            target.set_weights(_reordered(layer, target, part) if type(layer).__name__ == "Dense" else part)


def _reordered(dense, target, weights: list) -> list:
    """`dense`'s weights for `target`, its namesake in the compiled import: where one reads a vector flattened
    C·H·W (after `Permute((3, 1, 2))`) and the other H·W·C, the kernel's rows in the target's order."""
    a, b = _flattened(dense), _flattened(target)
    if a is None or b is None or a[1] == b[1]:
        return weights
    (h, w, c), chw = a
    kernel = weights[0]
    shape, axes = ((c, h, w), (1, 2, 0, 3)) if chw else ((h, w, c), (2, 0, 1, 3))
    return [kernel.reshape(*shape, -1).transpose(axes).reshape(kernel.shape), *weights[1:]]


def _input(layer):
    """The one tensor `layer` reads; None where it reads none or several."""
    nodes = getattr(layer, "_inbound_nodes", [])
    tensors = list(nodes[0].input_tensors) if len(nodes) == 1 else []
    return tensors[0] if len(tensors) == 1 else None


def _flattened(dense):
    """((H, W, C), whether flattened C·H·W) of the map whose Flatten `dense` reads, through layers that keep
    the vector's shape (dropout, activations); None where it reads none."""
    x = _input(dense)
    while x is not None:
        layer = x._keras_history.operation
        inner = _input(layer)
        if inner is not None and type(layer).__name__ == "Flatten":
            permute = inner._keras_history.operation
            before = _input(permute) if _to_chw(permute) else None
            shape = tuple((before if before is not None else inner).shape[1:])
            return (shape, before is not None) if len(shape) == 3 else None
        x = inner if inner is not None and tuple(inner.shape) == tuple(x.shape) else None
    return None


# --- the module hierarchy in the layers' names ------------------------------------------------------------


def text(model, name: str, source: str = "") -> str:
    """The .cnn text of a Keras model, with the hierarchy its layer names carry (`layer1_0_conv1`: the block
    `layer1.0` of the sequence `layer1`; keras.applications' `conv2_block1_1_conv`) as scopes, so that the
    writer makes blocks and repeats of them. A scope is kept only where the compiled import gives every layer
    its name back (cnndsl's Keras backend joins scopes and labels with `_`; a merge's name excepted): the
    weights still go across by name. Where a name does not come back, its node keeps its label, or its scope
    is given up."""
    from ..backends.keras import keras_names
    from ..compiler import loads
    from .writer import write

    converter = _Converter(model, name)
    graph = converter.graph()
    # every layer's name but a merge's (the writer writes `residual`, `add { }`: their names are made up)
    kept = {n.where for n in graph.nodes if n.path and n.kind not in _MERGES.values()}
    scopes = _scopes(graph)  # (and the nodes of each made consecutive)
    labelled: set[str] = set()  # nodes whose made-up name did not come back: they keep their label
    while True:  # each round gives up a scope or labels a node, until the names come back or none is left
        bad = _place(graph, scopes, labelled)
        if bad:  # labels the language cannot write (`1_conv`): their scope is given up
            scopes -= bad
            continue
        try:
            out = write(graph, source)
            net = loads(out)
            names = keras_names(net)[0]
            missing = kept - set(names)
        except (CnnDslError, ImportRefused):  # scopes that cannot be written so (none seen yet): flat, as before
            if not scopes:
                raise
            scopes.clear()
            continue
        unlabelled = {n.name for n in graph.nodes if n.where in missing and n.name == n.where and not n.path}
        if not missing or not (scopes or unlabelled):  # (flat, every layer is labelled with its name)
            _check_flattens(converter, net, names)
            return out
        labelled |= unlabelled
        if not unlabelled:  # else the scope that numbers each wrongly is given up (all, if none does)
            culprits = {_culprit(name, scopes, kept) for name in missing} & scopes
            scopes -= culprits or set(scopes)


def _culprit(name: str, scopes: set[str], names: set[str]) -> str:
    """The scope to give up for a name that did not come back: one numbered on its way, else the innermost.
    A numbered scope in a scope that holds layers of its own is a part named by a number (keras.applications'
    `conv2_block1_1` beside `conv2_block1_out`): it is given up, its layers labelled `"1_conv"`. Else the scope
    that numbers it is (`block_16` is not the 17th statement of a sequence `block`)."""
    owners = sorted((s for s in scopes if name.startswith(s + "_")), key=len)
    for parent, child in zip(owners, owners[1:]):
        if child[len(parent) + 1 :].isdigit():
            inner = [s for s in scopes if s.startswith(parent + "_")]
            own = any(n.startswith(parent + "_") and not any(n.startswith(s + "_") for s in inner) for n in names)
            return child if own else parent
    return owners[-1] if owners else ""


def _check_flattens(converter: _Converter, net, names: list[str]) -> None:
    """Refuse a Flatten in Keras' H·W·C order that the compiled import would flatten C·H·W. cnndsl's `flatten`
    is PyTorch's C·H·W; its Keras code flattens H·W·C only where dense layers alone read the vector (their
    weights absorb the order: `keras_weights` reorders them where the model flattened C·H·W), else it writes
    `Permute((3, 1, 2))` first. H·W·C read by any other layer has no .cnn form (`flatten()` after
    `channels_last()` is E304)."""
    from ..backends.keras import channels_last_flattens

    last = {names[i] for i in channels_last_flattens(net)}
    what = "Flatten in Keras' H·W·C order read by other layers than dense ones (cnndsl's flatten is PyTorch's C·H·W: "
    what += "write Permute((3, 1, 2)) before the Flatten)"
    problems = [(what, name) for name in converter.flattens if name not in last]
    if problems:
        raise ImportRefused(problems, converter.name)


def _scopes(graph: Graph) -> set[str]:
    """The prefixes of layer names (whole `_`-separated words) that name two or more nodes with one input and
    one output between them: a module of the original, as keras.applications' `conv2_block1`. The nodes of
    each are made consecutive (Keras interleaves a block's branches)."""
    names = [n.where for n in graph.nodes]
    taken = set(names)
    candidates: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        words = name.split("_")
        for k in range(1, len(words)):
            candidates.setdefault("_".join(words[:k]), []).append(i)
    scopes = set()
    for prefix, members in candidates.items():
        if len({names[i] for i in members}) < 2 or prefix in taken:  # a layer's own name: its scope's label too
            continue
        inside = {graph.nodes[i].name for i in members}
        entries = {x for i in members for x in graph.nodes[i].inputs if x not in inside}
        exits = {
            graph.nodes[i].name for i in members if graph.nodes[i].name in graph.outputs
            or any(graph.nodes[i].name in o.inputs for o in graph.nodes if o.name not in inside)
        }  # fmt: skip
        if len(entries) == 1 and len(exits) == 1:
            scopes.add(prefix)
    for prefix in sorted(scopes, key=len):  # the outer first: the inner stay consecutive inside them
        # a scope's one input comes before its first node: gathering its nodes there keeps the order a dataflow
        members = [n for n in graph.nodes if n.where.startswith(prefix + "_")]
        first = graph.nodes.index(members[0])
        rest = [n for n in graph.nodes[first:] if not n.where.startswith(prefix + "_")]
        graph.nodes[first:] = members + rest
    return scopes


def _word(n: GNode) -> str:
    """What cnndsl's Keras backend names an unlabelled node of this kind in a block (`bn`, `relu`, `add`)."""
    return {"batchnorm": "bn"}.get(n.kind, n.kind)


def _place(graph: Graph, scopes: set[str], labelled: set[str]) -> set[str]:
    """Each node's module path from its layer's name and the scopes: `conv2_block1_1_conv` in the scopes
    `conv2` and `conv2_block1` is `conv2.block1.1_conv`. A name the backend makes up for an unlabelled node
    (`layer1_0_add`, `layer1_0_out`, `relu_2`) leaves the node unlabelled, in its scope. Returns the scopes
    that would hold a label no module name can be (`1_conv`: it starts with a digit)."""
    bad = set()
    for n in graph.nodes:
        if not n.where:
            continue
        owners = sorted((s for s in scopes if n.where.startswith(s + "_")), key=len)
        parts, start = [], 0
        for s in owners:
            parts.append(s[start:])
            start = len(s) + 1
        local = n.where[start:]
        scope = ".".join(parts)
        made_up = re.fullmatch(rf"({_word(n)}|out)(_[0-9]+)?", local) and n.name not in labelled
        if n.name != n.where or made_up:  # a node the layer adds (a flatten after a global pooling), or a made-up name
            n.path, n.scope = "", scope
        else:
            n.path, n.scope = f"{scope}.{local}" if scope else local, ""
            if owners and not (local.isdigit() or MODULE_NAME.fullmatch(local)):
                bad.add(owners[-1])
    return bad
