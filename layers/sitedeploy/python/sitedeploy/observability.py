"""The Powertools logger, tracer and metrics every function shares (configured by POWERTOOLS_* env).

The tracer patches what the service calls through and nothing else: botocore (AWS) and http.client
(under urllib3, the platforms' APIs). Left to patch everything X-Ray knows, it imports every such
library it finds installed (requests, sqlite3, database drivers...) at every cold start, for nothing."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

TRACED_MODULES = ("botocore", "httplib")

logger = Logger()
tracer = Tracer(patch_modules=TRACED_MODULES)
metrics = Metrics(namespace="sitedeploy")
