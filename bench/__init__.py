"""Benchmarks (``python -m bench.<name>``). Their local stacks start each Lambda environment as a
fresh interpreter, as Lambda does, not forked from the local stack's zygote: a cold start inside a
measured deploy then costs what it costs in a new process, and the figures compare with earlier ones."""

import os

os.environ.setdefault("SITEDEPLOY_LOCAL_FORK", "0")
