# ternary bindings (included by _kernels.pyx).
