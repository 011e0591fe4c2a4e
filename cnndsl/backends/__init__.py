"""Code generators: one module per target framework, each reading only the IR (cnndsl.ir)."""
