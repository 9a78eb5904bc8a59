"""Cluster (placeholder while being written)."""


def run(ctx) -> None:
    pass
