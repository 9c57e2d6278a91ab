"""SnapStart: what the API functions do at init when Lambda will snapshot it, and what each restored
environment redoes. The init runs in a fresh interpreter, as Lambda's would, with the real
``snapshot_restore_py`` that Lambda's Python runtimes ship."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import snapshot_restore_py

from sitedeploy import snapstart
from sitedeploy_local.template import Template

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "sitedeploy" / "python"
API_FUNCTIONS = (
    "DeployStatusFunction",
    "CloudflareDeployFunction",
    "NetlifyDeployFunction",
    "VercelDeployFunction",
    "AmplifyDeployFunction",
    "UploadsFunction",
    "PlatformTokensFunction",
    "SitesFunction",
    "VersionsFunction",
    "DomainsFunction",
)

# Runs as Lambda's init: no socket may connect (a connection in a snapshot is dead on restore), then
# reports what the init left behind.
INIT = """
import json, socket, sys

def refuse(*args, **kwargs):
    raise AssertionError(f"init opened a connection: {args!r}")

socket.socket.connect = refuse
socket.create_connection = refuse
import app
import snapshot_restore_py
from sitedeploy import snapstart
from sitedeploy.services import services
from sitedeploy.stores import aws
print(json.dumps({
    "hooks": [f"{fn.__module__}.{fn.__qualname__}" for fn, _, _ in snapshot_restore_py.get_after_restore()],
    "clients": aws.client.cache_info().currsize,
    "services": services.cache_info().currsize,
    "unbuilt": len(snapstart.unbuilt_models()),
}))
"""


def _template() -> Template:
    """The template with placeholder resource names, as bench.cold_import reads it."""
    template = Template.load(ROOT / "template.yaml")
    for name in template.resources:
        template.physical[name] = f"placeholder-{name.lower()}"
        for attribute in ("Arn", "StreamArn", "KeyId"):
            template.attributes[(name, attribute)] = f"arn:aws:placeholder:us-east-1:123456789012:{name}"
    return template


def _environment(logical_id: str, initialization: str) -> tuple[dict[str, str], Path]:
    spec = _template().functions()[logical_id]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.pathsep.join([str(LAYER), *sys.path]),
        "AWS_LAMBDA_FUNCTION_NAME": f"sitedeploy-{logical_id}",
        "AWS_LAMBDA_INITIALIZATION_TYPE": initialization,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_TRACE_DISABLED": "true",
        **spec.environment,
    }
    return env, spec.code_dir


def _init(logical_id: str, initialization: str) -> dict[str, object]:
    env, code_dir = _environment(logical_id, initialization)
    done = subprocess.run(
        [sys.executable, "-c", INIT], env=env, cwd=code_dir, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_every_api_function_prepares_for_a_snapshot() -> None:
    """Every HTTP function calls the preparation at import, and the template offers SnapStart to each
    of them (and to no other: the stream and scheduled functions gain nothing from it)."""
    template = _template()
    specs = template.functions()
    assert {spec.logical_id for spec in specs.values() if spec.routes} == set(API_FUNCTIONS)
    for logical_id in API_FUNCTIONS:
        assert "prepare_for_snapshot(services)" in (specs[logical_id].code_dir / "app.py").read_text(), logical_id
    resources = template.resources
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        if logical_id in API_FUNCTIONS:
            assert properties["AutoPublishAlias"] == "live"
            assert properties["SnapStart"] == {"ApplyOn": {"Fn::If": ["UseSnapStart", "PublishedVersions", "None"]}}
        else:
            assert "SnapStart" not in properties, logical_id
    assert template.body["Parameters"]["SnapStart"]["Default"] == "Disabled"


@pytest.mark.parametrize("logical_id", ["SitesFunction", "CloudflareDeployFunction", "DomainsFunction"])
def test_under_snapstart_init_warms_up_without_a_connection(logical_id: str) -> None:
    after = _init(logical_id, "snap-start")
    assert after["hooks"] == ["sitedeploy.snapstart.after_restore"]
    assert after["clients"] == len(snapstart.AWS_CLIENTS)
    assert after["services"] == 1
    assert after["unbuilt"] == 0  # the models' validators are in the snapshot


def test_on_demand_init_leaves_the_warm_up_to_the_first_request() -> None:
    after = _init("SitesFunction", "on-demand")
    unbuilt = after.pop("unbuilt")
    assert after == {"hooks": [], "clients": 0, "services": 0}
    assert isinstance(unbuilt, int)
    assert unbuilt > 0  # built on first use: a cold start builds only what its request touches


def test_restored_environments_draw_different_numbers() -> None:
    """Two environments restored from one snapshot start with the same ``random`` state; the hook
    gives each its own, so a burst of new sites does not all pick the same pool member."""
    snapshot = random.getstate()
    try:
        random.setstate(snapshot)
        first_unseeded = [random.random() for _ in range(4)]
        random.setstate(snapshot)
        second_unseeded = [random.random() for _ in range(4)]
        assert first_unseeded == second_unseeded  # what a snapshot does when nothing re-seeds

        random.setstate(snapshot)
        snapstart.after_restore()
        first = [random.random() for _ in range(4)]
        random.setstate(snapshot)
        snapstart.after_restore()
        second = [random.random() for _ in range(4)]
        assert first != second
    finally:
        random.seed()


def test_outside_snapstart_nothing_is_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
    before = list(snapshot_restore_py.get_after_restore())
    ran: list[str] = []
    assert snapstart.prepare_for_snapshot(lambda: ran.append("warm")) is False
    assert ran == []
    assert snapshot_restore_py.get_after_restore() == before


def test_every_model_of_the_service_waits_for_its_first_use_and_still_builds() -> None:
    """An on-demand cold start builds only the validators its request touches (``defer_build``): a
    model that builds at import costs every cold start of every function that imports it. Each one
    still builds, so nothing is left to fail at a first use."""
    import importlib
    import pkgutil

    import sitedeploy

    for module in pkgutil.walk_packages(sitedeploy.__path__, "sitedeploy."):
        importlib.import_module(module.name)
    models = [m for m in snapstart.service_models() if m.__module__.startswith("sitedeploy.")]
    assert len(models) > 30
    assert [m.__qualname__ for m in models if not m.model_config.get("defer_build")] == []
    for model in models:
        assert model.model_rebuild(force=True) is not False, model
        assert model.__pydantic_complete__, model
