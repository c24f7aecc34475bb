"""Server fixtures for the source tests (defined in tests/servers.py)."""

from tests.servers import fault_server, nginx

__all__ = ["fault_server", "nginx"]
