# wordpiece bindings (included by _kernels.pyx).
