"""Loopback emulators of the hosting platforms sitedeploy publishes to: Cloudflare's v4 API for
Workers Static Assets (``cloudflare``), AWS Amplify Hosting's API (``amplify``), Netlify's API v1
file-digest deploys (``netlify``) and Vercel's REST API for deployments and projects (``vercel``).

They speak the platforms' real wire protocols, can misbehave on request (``faults``) and serve what
was deployed, so that the adapters, the local stack and the end-to-end tests run without an account,
a network or Docker. All route requests the same way (``routes``: a table of method, path template
and route name per platform) and run on the same loopback plumbing (``loopback``).
"""

from sitedeploy_local.emulators.amplify import AmplifyEmulator
from sitedeploy_local.emulators.cloudflare import CloudflareEmulator, RequestLogEntry, ScriptState
from sitedeploy_local.emulators.faults import Fault, FaultAction, FaultInjector
from sitedeploy_local.emulators.netlify import NetlifyEmulator
from sitedeploy_local.emulators.vercel import VercelEmulator

__all__ = [
    "AmplifyEmulator",
    "CloudflareEmulator",
    "Fault",
    "FaultAction",
    "FaultInjector",
    "NetlifyEmulator",
    "RequestLogEntry",
    "ScriptState",
    "VercelEmulator",
]
