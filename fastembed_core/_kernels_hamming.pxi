# hamming bindings (included by _kernels.pyx).
