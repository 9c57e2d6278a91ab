"""moto's server as the local AWS, and the resources of template.yaml created in it.

moto runs as its own process (``python -m sitedeploy_local.moto_server``: moto, with DynamoDB's
transactions made safe) so that the functions reach it over real HTTP with the real boto3 clients,
exactly as they reach AWS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3

from sitedeploy_local.ports import HOST, free_port, wait_for_port
from sitedeploy_local.template import ACCOUNT_ID, REGION, Template

# Credentials moto accepts; they are not secrets and reach nothing outside this machine.
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


class MotoServer:
    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.endpoint = f"http://{HOST}:{self.port}"
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._session: boto3.session.Session | None = None
        self._making = threading.Lock()
        self._shared: dict[str, Any] = {}

    def start(self) -> None:
        log = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL  # noqa: SIM115
        # Global CORS off: moto would otherwise answer every origin's preflight itself, and a browser
        # would see locally what AWS refuses; this way only the bucket's own CORS rules answer.
        env = {
            **os.environ,
            **LOCAL_CREDENTIALS,
            "MOTO_ALLOW_NONEXISTENT_REGION": "true",
            "MOTO_DISABLE_GLOBAL_CORS": "true",
        }
        self._process = subprocess.Popen(
            [sys.executable, "-m", "sitedeploy_local.moto_server", "-H", HOST, "-p", str(self.port)],
            stdout=log,
            stderr=log,
            env=env,
        )
        wait_for_port(self.port, timeout=60)

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process = None

    def client(self, service: str) -> Any:
        """A new client each call (tests register hooks and stubs on theirs), from one session: a
        session per client loaded botocore's JSON models again every time, which was most of the
        CPU the test processes spent emptying tables between tests. Sessions are not thread-safe,
        so clients are made under a lock; the clients are."""
        with self._making:
            if self._session is None:
                self._session = boto3.session.Session()
            return self._session.client(  # type: ignore[call-overload]
                service,
                endpoint_url=self.endpoint,
                region_name=REGION,
                aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            )

    def shared(self, service: str) -> Any:
        """One client per service for callers that only call it (no hooks, no stubs: those take a
        ``client`` of their own). A new client is 5-20 ms of CPU, and every test's setup made two."""
        with self._making:
            found = self._shared.get(service)
        if found is None:
            found = self.client(service)
            with self._making:
                found = self._shared.setdefault(service, found)
        return found

    @property
    def environment(self) -> dict[str, str]:
        """What a process needs so that boto3 talks to this server."""
        return {**LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}


@contextmanager
def running_moto(log_path: Path | None = None) -> Iterator[MotoServer]:
    server = MotoServer(log_path=log_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def provision(template: Template, moto: MotoServer) -> None:
    """Create every table, bucket, secret and key of the template, recording physical names and ARNs
    in ``template.physical`` / ``template.attributes`` so that function environments resolve."""
    stack = template.stack_name
    ddb = moto.shared("dynamodb")
    for name, res in template.of_type("AWS::DynamoDB::Table").items():
        props = template.resolve(res.get("Properties") or {})
        table = f"{stack}-{name}"
        args: dict[str, Any] = {
            "TableName": table,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        if props.get("StreamSpecification"):
            args["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": props["StreamSpecification"]["StreamViewType"],
            }
        answer = ddb.create_table(**args)["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(
                TableName=table,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        template.physical[name] = table
        template.attributes[(name, "Arn")] = answer["TableArn"]
        if answer.get("LatestStreamArn"):
            template.attributes[(name, "StreamArn")] = answer["LatestStreamArn"]

    s3 = moto.shared("s3")
    for name, res in template.of_type("AWS::S3::Bucket").items():
        props = template.resolve(res.get("Properties") or {})
        bucket = f"{stack}-{name}".lower()
        s3.create_bucket(Bucket=bucket)
        if props.get("BucketEncryption"):
            s3.put_bucket_encryption(
                Bucket=bucket,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {
                            "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                            "BucketKeyEnabled": bool(rule.get("BucketKeyEnabled", False)),
                        }
                        for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
                    ]
                },
            )
        if props.get("PublicAccessBlockConfiguration"):
            s3.put_public_access_block(
                Bucket=bucket, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
            )
        cors = ((props.get("CorsConfiguration") or {}).get("CorsRules")) or []
        if cors:
            s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [_cors_rule(r) for r in cors]})
        rules = ((props.get("LifecycleConfiguration") or {}).get("Rules")) or []
        if rules:
            s3.put_bucket_lifecycle_configuration(
                Bucket=bucket, LifecycleConfiguration={"Rules": [_lifecycle_rule(r) for r in rules]}
            )
        template.physical[name] = bucket
        template.attributes[(name, "Arn")] = f"arn:aws:s3:::{bucket}"

    secrets = moto.shared("secretsmanager")
    for name, res in template.of_type("AWS::SecretsManager::Secret").items():
        props = template.resolve(res.get("Properties") or {})
        answer = secrets.create_secret(Name=f"{stack}-{name}", SecretString=props.get("SecretString", "{}"))
        template.physical[name] = answer["ARN"]
        template.attributes[(name, "Id")] = answer["ARN"]

    kms = moto.shared("kms")
    for name, res in template.of_type("AWS::KMS::Key").items():
        props = template.resolve(res.get("Properties") or {})
        key = kms.create_key(Description=str(props.get("Description", name)))["KeyMetadata"]
        if props.get("EnableKeyRotation"):
            kms.enable_key_rotation(KeyId=key["KeyId"])
        template.physical[name] = key["KeyId"]
        template.attributes[(name, "Arn")] = key["Arn"]
        template.attributes[(name, "KeyId")] = key["KeyId"]
    for name, res in template.of_type("AWS::KMS::Alias").items():
        props = template.resolve(res.get("Properties") or {})
        kms.create_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
        template.physical[name] = props["AliasName"]

    sqs = moto.shared("sqs")
    for name in template.of_type("AWS::SQS::Queue"):
        url = sqs.create_queue(QueueName=f"{stack}-{name}")["QueueUrl"]
        template.physical[name] = url
        template.attributes[(name, "Arn")] = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{stack}-{name}"
        template.attributes[(name, "QueueName")] = f"{stack}-{name}"

    # Functions and the API are not AWS resources here, but their names resolve in environments.
    for name in template.of_type("AWS::Serverless::Function"):
        template.physical.setdefault(name, f"{stack}-{name}")
        template.attributes[(name, "Arn")] = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{stack}-{name}"
    for name in template.of_type("AWS::Serverless::HttpApi"):
        template.physical.setdefault(name, "local")
    for name in template.of_type("AWS::Serverless::LayerVersion"):
        template.physical.setdefault(name, f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:layer:{name}:1")


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's lifecycle rule shape → S3 API's."""
    out: dict[str, Any] = {"ID": rule.get("Id", "rule"), "Status": rule.get("Status", "Enabled")}
    out["Filter"] = {"Prefix": rule.get("Prefix", "")}
    if "ExpirationInDays" in rule:
        out["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "AbortIncompleteMultipartUpload" in rule:
        days = int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        out["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
    return out


def _cors_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's CorsRule shape → S3 API's."""
    names = {
        "Id": "ID",
        "AllowedMethods": "AllowedMethods",
        "AllowedOrigins": "AllowedOrigins",
        "AllowedHeaders": "AllowedHeaders",
        "ExposedHeaders": "ExposeHeaders",
        "MaxAge": "MaxAgeSeconds",
    }
    out = {names[key]: value for key, value in rule.items() if key in names}
    if "MaxAgeSeconds" in out:
        out["MaxAgeSeconds"] = int(out["MaxAgeSeconds"])
    return out


def put_secret_json(moto: MotoServer, secret_arn: str, value: dict[str, Any]) -> None:
    moto.shared("secretsmanager").put_secret_value(SecretId=secret_arn, SecretString=json.dumps(value))


def apply_lifecycle(s3: Any, bucket: str, *, now: float | None = None) -> list[str]:
    """What the bucket's lifecycle expiry rules would have deleted by ``now`` (the service's
    clock, which tests move): each object whose last write, on that clock, is older than its
    rule's days. moto keeps the rules but never applies them. Returns the keys deleted."""
    from sitedeploy.domain import clock

    moment = clock.epoch() if now is None else now
    try:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules") or []
    except Exception:  # no lifecycle configuration: nothing expires
        return []
    deleted: list[str] = []
    for rule in rules:
        days = (rule.get("Expiration") or {}).get("Days")
        if rule.get("Status") != "Enabled" or not days:
            continue
        prefix = (rule.get("Filter") or {}).get("Prefix", rule.get("Prefix", ""))
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents") or []:
                if clock.at_wall(item["LastModified"].timestamp()) + int(days) * 86400 < moment:
                    s3.delete_object(Bucket=bucket, Key=item["Key"])
                    deleted.append(item["Key"])
    return deleted
