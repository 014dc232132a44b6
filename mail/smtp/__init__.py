"""The SMTP gateway: each workspace receives at `<slug>[+tag]@<mail domain>`."""

from mail.smtp.handler import GatewayHandler
from mail.smtp.server import GatewayServer, SessionCap, start_gateway

__all__ = ["GatewayHandler", "GatewayServer", "SessionCap", "start_gateway"]
