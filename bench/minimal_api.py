"""The yardstick of ``bench.cold_start``: the least a Powertools HTTP function can be that answers
what an API function of ours answers — an ``APIGatewayHttpResolver`` with validation on, one
pydantic-validated route, one DynamoDB GetItem on the deployments table. No logger, tracer or
metrics: it is the floor, not a rival service."""

from __future__ import annotations

import os
from typing import Annotated, Any

import boto3
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import BaseModel

app = APIGatewayHttpResolver(enable_validation=True)
table = os.environ["DEPLOYMENTS_TABLE"]
dynamodb = boto3.client("dynamodb")


class Found(BaseModel):
    deploymentId: str
    status: str | None


@app.get("/deployments/<deploymentId>")
def get_deployment(deploymentId: Annotated[str, Path(min_length=1, max_length=64)]) -> Found:
    item = dynamodb.get_item(TableName=table, Key={"pk": {"S": f"DEPLOYMENT#{deploymentId}"}, "sk": {"S": "META"}})
    status = item.get("Item", {}).get("status", {}).get("S")
    return Found(deploymentId=deploymentId, status=status)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
