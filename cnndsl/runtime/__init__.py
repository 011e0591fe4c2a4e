"""Code that emitted modules carry: real, linted modules whose definitions the backends copy into each
emitted file that needs them (see `cnndsl.backends.base.runtime`), so that an emitted file stays standalone.

`kernels` is plain Python; `torch_layers` imports torch and `keras_layers` Keras, so nothing in cnndsl imports
them: the backends read their source.
"""
