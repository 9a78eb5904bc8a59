"""Networking core: addresses, listening sockets, pollers, the event loop and transports.

Models and protocols both build on this package; it imports neither of them.
"""
