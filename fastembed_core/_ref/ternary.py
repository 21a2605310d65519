"""numpy reference for the ternary kernels."""

__all__: list[str] = []
