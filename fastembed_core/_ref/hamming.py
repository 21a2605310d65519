"""numpy reference for the hamming kernels."""

__all__: list[str] = []
