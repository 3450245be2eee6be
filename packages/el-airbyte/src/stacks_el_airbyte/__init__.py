"""stacks EL over Airbyte."""

__all__: list[str] = []
