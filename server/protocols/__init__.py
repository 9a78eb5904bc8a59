"""Protocols: sans-IO objects driven by transports. They never import a model."""
