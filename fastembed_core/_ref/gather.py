"""numpy reference for the gather kernels."""

__all__: list[str] = []
