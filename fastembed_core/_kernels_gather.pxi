# gather bindings (included by _kernels.pyx).
