"""Loopback emulators of the hosting platforms sitedeploy publishes to.

They speak the platforms' real wire protocols, can misbehave on request (``faults``) and serve what
was deployed, so that the adapters, the local stack and the end-to-end tests run without an account,
a network or Docker."""

from sitedeploy_local.emulators.cloudflare import CloudflareEmulator, RequestLogEntry, ScriptState
from sitedeploy_local.emulators.faults import Fault, FaultAction, FaultInjector

__all__ = [
    "CloudflareEmulator",
    "Fault",
    "FaultAction",
    "FaultInjector",
    "RequestLogEntry",
    "ScriptState",
]
