"""The Powertools logger, tracer and metrics every function shares (configured by POWERTOOLS_* env)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="sitedeploy")
