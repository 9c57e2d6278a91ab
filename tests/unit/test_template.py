"""template.yaml as the single source: every route has a sample event, every handler imports, and the
resources the issue asks for are there with the properties that matter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sitedeploy_local.template import Template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = Template.load(ROOT / "template.yaml", {"JwtIssuer": "https://issuer.example/", "JwtAudience": "aud"})


def _functions() -> dict[str, dict]:  # type: ignore[type-arg]
    return TEMPLATE.of_type("AWS::Serverless::Function")


def _route_keys(name: str) -> set[str]:
    events = (_functions()[name].get("Properties") or {}).get("Events") or {}
    return {
        f"{e['Properties']['Method'].upper()} {e['Properties']['Path']}"
        for e in events.values()
        if e["Type"] == "HttpApi"
    }


@pytest.mark.parametrize("name", sorted(_functions()))
def test_every_route_has_a_sample_event(name: str) -> None:
    code_dir = Path(_functions()[name]["Properties"]["CodeUri"])
    folder = ROOT / "events" / code_dir.name
    keys = {json.loads(p.read_text()).get("routeKey") for p in folder.glob("*.json")} if folder.exists() else set()
    missing = _route_keys(name) - keys
    assert not missing, f"{name}: no event in events/{code_dir.name}/ for {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(_functions()))
def test_every_handler_imports(name: str) -> None:
    """In a fresh interpreter, as Lambda would: the module loads and the handler is callable."""
    props = _functions()[name]["Properties"]
    code_dir = ROOT / props["CodeUri"]
    module, _, attribute = props["Handler"].rpartition(".")
    assert (code_dir / f"{module}.py").is_file()
    probe = (
        "import importlib, sys; sys.path.insert(0, sys.argv[1]); "
        "m = importlib.import_module(sys.argv[2]); assert callable(getattr(m, sys.argv[3]))"
    )
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true"}
    done = subprocess.run(
        [sys.executable, "-c", probe, str(code_dir), module, attribute],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr


def test_every_event_file_belongs_to_a_route() -> None:
    all_keys = {key for name in _functions() for key in _route_keys(name)}
    for path in (ROOT / "events").rglob("*.json"):
        event = json.loads(path.read_text())
        if "routeKey" in event:
            assert event["routeKey"] in all_keys, f"{path} names a route the template lacks"


def test_deployments_table_has_ttl_stream_and_owner_index() -> None:
    props = TEMPLATE.resources["DeploymentsTable"]["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert props["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    indexes = {i["IndexName"]: i for i in props["GlobalSecondaryIndexes"]}
    assert {"ByOwner", "ByChat", "InFlight"} <= set(indexes)


def test_staging_bucket_is_private_and_encrypted() -> None:
    props = TEMPLATE.resources["StagingBucket"]["Properties"]
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert any(r.get("Prefix") == "blobs/" for r in props["LifecycleConfiguration"]["Rules"])


def test_globals_match_the_lambda_runtime() -> None:
    glob = TEMPLATE.body["Globals"]["Function"]
    assert glob["Runtime"] == "python3.13"
    assert glob["Architectures"] == ["arm64"]
    assert glob["Tracing"] == "Active"
    assert glob["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]


def test_no_function_gets_a_managed_wildcard_policy() -> None:
    """Least privilege: statements name their resources; no '*' resource outside the KMS key policy."""
    for name, fn in _functions().items():
        for policy in fn["Properties"].get("Policies", []):
            assert isinstance(policy, dict), f"{name}: use explicit statements, not {policy!r}"
            for statement in policy.get("Statement", []):
                assert statement.get("Resource") not in ("*", ["*"]), f"{name}: wildcard resource"
                assert statement.get("Action") not in ("*", "dynamodb:*", "s3:*"), f"{name}: wildcard action"


def test_jwt_authorizer_is_the_default() -> None:
    api = TEMPLATE.resources["SitedeployApi"]["Properties"]["Auth"]
    config = api["Authorizers"][api["DefaultAuthorizer"]]["JwtConfiguration"]
    assert config == {"issuer": {"Ref": "JwtIssuer"}, "audience": {"Ref": "JwtAudience"}}
    assert TEMPLATE.http_api_auth() == {"issuer": "https://issuer.example/", "audience": ["aud"]}


def test_layer_requirements_cover_the_library_imports() -> None:
    """Every third-party module the library and the functions import must come from the layer's
    requirements or from the Lambda runtime itself (boto3, botocore)."""
    import ast
    import sys

    requirements = (ROOT / "layers/sitedeploy/requirements.txt").read_text().lower()
    provided = {
        "aws_lambda_powertools": "aws-lambda-powertools",
        "aws_xray_sdk": "aws-lambda-powertools[tracer]",
        "pydantic": "pydantic",
        "urllib3": "urllib3",
    }
    # snapshot_restore_py: SnapStart's runtime hooks, shipped by Lambda's Python 3.12+ runtimes.
    runtime = {"boto3", "botocore", "sitedeploy", "mypy_boto3_dynamodb", "mypy_boto3_s3", "snapshot_restore_py"}
    sources = [*(ROOT / "layers/sitedeploy/python/sitedeploy").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]
    seen: set[str] = set()
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in runtime:
                    continue
                seen.add(top)
                assert top in provided, f"{path.relative_to(ROOT)} imports {top}, which the layer does not carry"
                assert provided[top] in requirements, f"layers/sitedeploy/requirements.txt lacks {provided[top]}"
    assert seen == set(provided)  # the scan found the imports it is meant to check


def test_the_reconciler_runs_hourly_and_its_drift_has_an_alarm() -> None:
    reconciler = _functions()["ReconcilerFunction"]["Properties"]
    [event] = reconciler["Events"].values()
    assert (event["Type"], event["Properties"]["ScheduleExpression"]) == ("ScheduleV2", "rate(1 hour)")
    assert reconciler["Environment"]["Variables"]["RECONCILE_GRACE_MINUTES"] == {"Ref": "ReconcileGraceMinutes"}
    alarm = TEMPLATE.resources["PoolDriftAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("sitedeploy", "PoolDrift")
    actions = {
        a
        for s in reconciler["Policies"][0]["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert {"amplify:ListApps", "amplify:ListBranches", "amplify:DeleteApp"} <= actions


def test_every_owners_quota_is_a_parameter_the_functions_read() -> None:
    variables = TEMPLATE.body["Globals"]["Function"]["Environment"]["Variables"]
    expected = {
        "QUOTA_SITES_PER_PLATFORM": "QuickDeploySitesPerOwner",
        "QUOTA_ROUTING_PROFILES": "RoutingProfilesPerOwner",
        "QUOTA_DEPLOYMENTS_IN_FLIGHT": "DeploymentsInFlightPerOwner",
        "QUOTA_STAGED_BYTES_PER_DAY": "StagedBytesPerOwnerPerDay",
        "QUOTA_FILES_PER_UPLOAD": "FilesPerUpload",
    }
    for variable, parameter in expected.items():
        assert variables[variable] == {"Ref": parameter}
        assert "Default" in TEMPLATE.body["Parameters"][parameter]
    from sitedeploy.settings import Settings

    env = {name: str(TEMPLATE.body["Parameters"][p]["Default"]) for name, p in expected.items()}
    quotas = Settings.from_env(env).quotas
    assert (quotas.sites_per_platform, quotas.routing_profiles, quotas.deployments_in_flight) == (25, 3, 5)
    assert (quotas.staged_bytes_per_day, quotas.files_per_upload) == (20 * 1024**3, 20_000)
