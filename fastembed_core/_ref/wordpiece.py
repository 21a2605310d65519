"""numpy reference for the wordpiece kernels."""

__all__: list[str] = []
