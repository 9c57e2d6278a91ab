"""Loopback emulators of the hosting platforms sitedeploy publishes to: Cloudflare's v4 API for
Workers Static Assets (``cloudflare``) and AWS Amplify Hosting's API (``amplify``).

They speak the platforms' real wire protocols, can misbehave on request (``faults``) and serve what
was deployed, so that the adapters, the local stack and the end-to-end tests run without an account,
a network or Docker. Both route requests the same way (``routes``: a table of method, path template
and route name per platform) and run on the same loopback plumbing (``loopback``).
"""

from sitedeploy_local.emulators.amplify import AmplifyEmulator
from sitedeploy_local.emulators.cloudflare import CloudflareEmulator, RequestLogEntry, ScriptState
from sitedeploy_local.emulators.faults import Fault, FaultAction, FaultInjector

__all__ = [
    "AmplifyEmulator",
    "CloudflareEmulator",
    "Fault",
    "FaultAction",
    "FaultInjector",
    "RequestLogEntry",
    "ScriptState",
]
