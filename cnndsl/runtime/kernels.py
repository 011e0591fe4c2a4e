"""The fixed filters' kernels, as cnndsl.ops.preset_kernel computes them: the emitted PyTorch and Keras
files compute them with these functions, so that the kernels are the IR's to the last bit."""

import math


def box_kernel(size: int | tuple[int, int]) -> tuple[tuple[float, ...], ...]:
    """A box blur: every weight is 1 / (h * w)."""
    h, w = (size, size) if isinstance(size, int) else size
    return tuple(tuple(1 / (h * w) for _ in range(w)) for _ in range(h))


def gaussian_kernel(size: int | tuple[int, int], sigma: float) -> tuple[tuple[float, ...], ...]:
    """A Gaussian blur: exp(-d^2 / (2 sigma^2)) along each axis, their product normalised to sum 1."""
    h, w = (size, size) if isinstance(size, int) else size
    gy = [math.exp(-((i - (h - 1) / 2) ** 2) / (2 * sigma**2)) for i in range(h)]
    gx = [math.exp(-((j - (w - 1) / 2) ** 2) / (2 * sigma**2)) for j in range(w)]
    total = sum(gy) * sum(gx)
    return tuple(tuple(a * b / total for b in gx) for a in gy)
