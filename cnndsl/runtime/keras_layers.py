"""Keras layers for what Keras lacks or does differently from PyTorch: TensorFlow's `same` padding where Keras
will not give it, PyTorch's pooling padding and ceil_mode, adaptive pooling, aligned-bilinear and
zero-insertion upsampling, transposed convolutions with groups or dilation, local response normalisation,
channel chunks and channel shuffle.
The Keras backend copies each definition a network needs into its module; the layers register themselves as
serializable (package "cnndsl"), so a saved .keras model loads without custom_objects.
"""

import keras
from keras import layers


def fixed_kernel(matrix):
    """The initializer of a fixed filter (`weights=` in the .cnn file): `matrix` for every input and output channel."""
    # Constant broadcasts its value to the kernel's shape: (h, w, 1, 1) to Conv2D's (h, w, in, out) and
    # DepthwiseConv2D's (h, w, in, multiplier).
    return keras.initializers.Constant([[[[value]] for value in row] for row in matrix])


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def _where(condition, a, b):
    """`a if condition else b`, for open sizes (tensors) as for fixed ones."""
    if isinstance(condition, bool):
        return a if condition else b
    return keras.ops.where(condition, a, b)


def _pool_padding(size, pool_size, strides, padding, ceil_mode):
    """PyTorch's padding of one axis as (before, after, extra): ceil_mode adds `extra` rows after the
    padding for a last partial window, unless that window would start past the padding before it."""
    if padding == "same":
        total = (size + strides - 1) // strides * strides - strides + pool_size - size
        total = _where(total > 0, total, 0)
        return total // 2, total - total // 2, 0
    if not ceil_mode:
        return padding, padding, 0
    windows = (size + 2 * padding - pool_size + strides - 1) // strides + 1
    windows = _where((windows - 1) * strides >= size + padding, windows - 1, windows)
    extra = (windows - 1) * strides + pool_size - size - 2 * padding
    return padding, padding, _where(extra > 0, extra, 0)


@keras.saving.register_keras_serializable(package="cnndsl")
class SamePadding2D(layers.Layer):
    """ZeroPadding2D by what TensorFlow's `same` adds at this input size, for a convolution that Keras will
    not give `same` itself: one with both strides and dilation (`kernel_size` is the dilated kernel's)."""

    def __init__(self, kernel_size, strides, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = _pair(kernel_size)
        self.strides = _pair(strides)

    def call(self, x):
        shape = keras.ops.shape(x)
        pads = [_pool_padding(shape[i + 1], self.kernel_size[i], self.strides[i], "same", False)[:2] for i in (0, 1)]
        return keras.ops.pad(x, ((0, 0), *pads, (0, 0)))

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "strides": self.strides}


class _Pooling2D(layers.Layer):
    def __init__(self, pool_size, strides, padding, ceil_mode=False, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = _pair(pool_size)
        self.strides = _pair(strides)
        self.padding = padding if padding == "same" else _pair(padding)
        self.ceil_mode = ceil_mode

    def padding_of(self, x):
        """[(before, after, extra)] of the height and the width."""
        shape = keras.ops.shape(x)
        padding = ("same", "same") if self.padding == "same" else self.padding
        return [
            _pool_padding(shape[i + 1], self.pool_size[i], self.strides[i], padding[i], self.ceil_mode) for i in (0, 1)
        ]

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=self.pool_size, strides=self.strides, padding=self.padding, ceil_mode=self.ceil_mode)
        return config


@keras.saving.register_keras_serializable(package="cnndsl")
class PaddedMaxPooling2D(_Pooling2D):
    """MaxPooling2D with PyTorch's padding, which never wins the maximum, and ceil_mode."""

    def call(self, x):
        (top, bottom, extra_h), (left, right, extra_w) = self.padding_of(x)
        pads = ((0, 0), (top, bottom + extra_h), (left, right + extra_w), (0, 0))
        x = keras.ops.pad(x, pads, constant_values=float("-inf"))
        return keras.ops.max_pool(x, self.pool_size, self.strides)


@keras.saving.register_keras_serializable(package="cnndsl")
class PaddedAveragePooling2D(_Pooling2D):
    """AveragePooling2D with PyTorch's padding and ceil_mode: the padding counts as zeros with
    count_include_pad and not at all without; the rows ceil_mode adds never count."""

    def __init__(self, pool_size, strides, padding, ceil_mode=False, count_include_pad=True, **kwargs):
        super().__init__(pool_size, strides, padding, ceil_mode, **kwargs)
        self.count_include_pad = count_include_pad

    def call(self, x):
        (top, bottom, extra_h), (left, right, extra_w) = self.padding_of(x)
        shape = keras.ops.shape(x)
        pads = ((0, 0), (top, bottom + extra_h), (left, right + extra_w), (0, 0))
        counted = keras.ops.ones((1, shape[1], shape[2], 1), dtype=x.dtype)
        if self.count_include_pad:
            counted = keras.ops.pad(counted, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=1)
            counted = keras.ops.pad(counted, ((0, 0), (0, extra_h), (0, extra_w), (0, 0)))
        else:
            counted = keras.ops.pad(counted, pads)
        total = keras.ops.average_pool(keras.ops.pad(x, pads), self.pool_size, self.strides)
        return total / keras.ops.average_pool(counted, self.pool_size, self.strides)

    def get_config(self):
        return {**super().get_config(), "count_include_pad": self.count_include_pad}


def _resample(x, rows, columns):
    """Applies an (out, in) matrix to the rows and another to the columns of channels-last images."""
    x = keras.ops.einsum("ih,nhwc->niwc", rows, x)
    return keras.ops.einsum("jw,niwc->nijc", columns, x)


def _adaptive_average(size, out, dtype):
    """The (out, size) matrix of PyTorch's adaptive pooling: cell i averages rows
    floor(i * size / out) to ceil((i + 1) * size / out)."""
    cell = keras.ops.arange(out)
    start = cell * size // out
    end = -(-(cell + 1) * size // out)
    row = keras.ops.arange(size)[None, :]
    inside = keras.ops.logical_and(row >= start[:, None], row < end[:, None])
    return keras.ops.cast(inside, dtype) / keras.ops.cast(end - start, dtype)[:, None]


@keras.saving.register_keras_serializable(package="cnndsl")
class AdaptiveAveragePooling2D(layers.Layer):
    """PyTorch's AdaptiveAvgPool2d: average pooling to a fixed output size, with uneven windows."""

    def __init__(self, output_size, **kwargs):
        super().__init__(**kwargs)
        self.output_size = _pair(output_size)

    def call(self, x):
        shape = keras.ops.shape(x)
        rows = _adaptive_average(shape[1], self.output_size[0], x.dtype)
        columns = _adaptive_average(shape[2], self.output_size[1], x.dtype)
        return _resample(x, rows, columns)

    def get_config(self):
        return {**super().get_config(), "output_size": self.output_size}


class _MatrixUpSampling2D(layers.Layer):
    """Upsampling by `size` that maps rows and columns each by the matrix `matrix(in, size, dtype)` builds."""

    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.size = _pair(size)

    def call(self, x):
        shape = keras.ops.shape(x)
        rows = self.matrix(shape[1], self.size[0], x.dtype)
        columns = self.matrix(shape[2], self.size[1], x.dtype)
        return _resample(x, rows, columns)

    def get_config(self):
        return {**super().get_config(), "size": self.size}


def _aligned_bilinear(size, scale, dtype):
    """The (size * scale, size) matrix of bilinear interpolation with aligned corners (PyTorch's
    align_corners=True): output row i samples input position i * (size - 1) / (size * scale - 1)."""
    out = size * scale
    step = keras.ops.cast(size - 1, "float32") / keras.ops.cast(keras.ops.maximum(out - 1, 1), "float32")
    position = keras.ops.cast(keras.ops.arange(out), "float32") * step
    low = keras.ops.cast(keras.ops.floor(position), "int32")
    high = keras.ops.minimum(low + 1, size - 1)
    weight = keras.ops.cast(position - keras.ops.floor(position), dtype)[:, None]
    below = keras.ops.one_hot(low, size, dtype=dtype) * (1 - weight)
    return below + keras.ops.one_hot(high, size, dtype=dtype) * weight


@keras.saving.register_keras_serializable(package="cnndsl")
class AlignedBilinearUpSampling2D(_MatrixUpSampling2D):
    """UpSampling2D's bilinear mode with the corners aligned, as PyTorch's align_corners=True."""

    matrix = staticmethod(_aligned_bilinear)


def _zero_insertion(size, scale, dtype):
    """The (size * scale, size) matrix that moves input row i to output row i * scale."""
    return keras.ops.transpose(keras.ops.one_hot(keras.ops.arange(size) * scale, size * scale, dtype=dtype))


@keras.saving.register_keras_serializable(package="cnndsl")
class ZeroInsertionUpSampling2D(_MatrixUpSampling2D):
    """Bed-of-nails upsampling: each pixel goes to the top-left corner of its cell, the rest is zero."""

    matrix = staticmethod(_zero_insertion)


def _pad_or_crop(x, pads):
    """Pads channels-last images by ((top, bottom), (left, right)); a negative amount crops instead."""
    x = keras.ops.pad(x, ((0, 0), *((max(a, 0), max(b, 0)) for a, b in pads), (0, 0)))
    (top, bottom), (left, right) = ((max(-a, 0), max(-b, 0)) for a, b in pads)
    return x[:, top : -bottom or None, left : -right or None]


@keras.saving.register_keras_serializable(package="cnndsl")
class ConvTranspose2D(layers.Layer):
    """PyTorch's ConvTranspose2d, for what Conv2DTranspose lacks: groups, and dilation (which TensorFlow's CPU
    kernels refuse). Computed as the convolution it is the gradient of: the input spread `strides` apart,
    padded by the dilated kernel's reach, correlated with the flipped kernel. The kernel is laid out as
    Conv2DTranspose's: (height, width, filters / groups, input channels)."""

    def __init__(
        self, filters, kernel_size, strides=1, padding=0, output_padding=0, dilation_rate=1, groups=1, activation=None,
        use_bias=True, **kwargs,
    ):  # fmt: skip
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = _pair(kernel_size)
        self.strides = _pair(strides)
        self.padding = padding if padding == "same" else _pair(padding)
        self.output_padding = _pair(output_padding)
        self.dilation_rate = _pair(dilation_rate)
        self.groups = groups
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias

    def build(self, input_shape):
        shape = (*self.kernel_size, self.filters // self.groups, input_shape[-1])
        self.kernel = self.add_weight(name="kernel", shape=shape, initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros") if self.use_bias else None

    def call(self, x):
        shape = keras.ops.shape(x)
        rows = _zero_insertion(shape[1], self.strides[0], x.dtype)
        columns = _zero_insertion(shape[2], self.strides[1], x.dtype)
        x = _resample(x, rows, columns)  # size · strides: strides - 1 zeros after the last row
        pads = []
        for i in (0, 1):
            reach = self.dilation_rate[i] * (self.kernel_size[i] - 1)
            if self.padding == "same":  # Keras' output size, size · strides
                start = max(reach + 1 - self.strides[i], 0) // 2
                pads.append((reach - start, start))
            else:
                start, extra = self.padding[i], self.output_padding[i]
                pads.append((reach - start, reach - start + extra - self.strides[i] + 1))
        x = _pad_or_crop(x, pads)
        height, width, out, _ = self.kernel.shape
        kernel = keras.ops.reshape(keras.ops.flip(self.kernel, axis=(0, 1)), (height, width, out, self.groups, -1))
        kernel = keras.ops.reshape(keras.ops.transpose(kernel, (0, 1, 4, 3, 2)), (height, width, -1, self.filters))
        x = keras.ops.conv(x, kernel, dilation_rate=self.dilation_rate)
        if self.use_bias:
            x = x + self.bias
        return self.activation(x)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters, kernel_size=self.kernel_size, strides=self.strides, padding=self.padding,
            output_padding=self.output_padding, dilation_rate=self.dilation_rate, groups=self.groups,
            activation=keras.activations.serialize(self.activation), use_bias=self.use_bias,
        )  # fmt: skip
        return config


@keras.saving.register_keras_serializable(package="cnndsl")
class LocalResponseNormalization(layers.Layer):
    """PyTorch's LocalResponseNorm: x / (k + alpha / size * sum of x² over `size` neighbouring channels) ** beta,
    the window of channel c running from c - size // 2 to c + (size - 1) // 2."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0, **kwargs):
        super().__init__(**kwargs)
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def call(self, x):
        channel = keras.ops.arange(x.shape[-1])
        offset = channel[:, None] - channel[None, :]  # source channel minus target channel
        window = keras.ops.logical_and(offset >= -(self.size // 2), offset <= (self.size - 1) // 2)
        total = keras.ops.matmul(keras.ops.square(x), keras.ops.cast(window, x.dtype))
        return x / keras.ops.power(self.k + self.alpha / self.size * total, self.beta)

    def get_config(self):
        config = super().get_config()
        config.update(size=self.size, alpha=self.alpha, beta=self.beta, k=self.k)
        return config


@keras.saving.register_keras_serializable(package="cnndsl")
class Chunk(layers.Layer):
    """The `index`-th of `chunks` equal groups of channels: PyTorch's `x.chunk(chunks, dim=1)[index]`."""

    def __init__(self, chunks, index, **kwargs):
        super().__init__(**kwargs)
        self.chunks = chunks
        self.index = index

    def call(self, x):
        size = x.shape[-1] // self.chunks
        return x[..., self.index * size : (self.index + 1) * size]

    def get_config(self):
        return {**super().get_config(), "chunks": self.chunks, "index": self.index}


@keras.saving.register_keras_serializable(package="cnndsl")
class ChannelShuffle(layers.Layer):
    """ShuffleNet's channel shuffle as torchvision writes it, channels-last: the channels seen as
    `groups` × C/groups, transposed, flattened again (channel g·C/groups + i moves to i·groups + g)."""

    def __init__(self, groups, **kwargs):
        super().__init__(**kwargs)
        self.groups = groups

    def call(self, x):
        shape = keras.ops.shape(x)
        grouped = keras.ops.reshape(x, (-1, self.groups, x.shape[-1] // self.groups))
        return keras.ops.reshape(keras.ops.swapaxes(grouped, 1, 2), shape)

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}


@keras.saving.register_keras_serializable(package="cnndsl")
class LayerScale(layers.Layer):
    """A learned scale per channel, initialised to `init`: ConvNeXt's layer scale (PyTorch's bare C×1×1
    parameter, here one weight per channel of the last axis)."""

    def __init__(self, init=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.init = init

    def build(self, input_shape):
        initializer = keras.initializers.Constant(self.init)
        self.gamma = self.add_weight(shape=(input_shape[-1],), initializer=initializer, name="gamma")

    def call(self, x):
        return x * self.gamma

    def get_config(self):
        config = super().get_config()
        config.update(init=self.init)
        return config
