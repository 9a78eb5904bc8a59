"""C10K (placeholder while being written)."""


def run(ctx) -> None:
    pass
