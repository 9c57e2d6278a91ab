"""template.yaml, read the way CloudFormation and SAM would, so that local and cloud cannot drift.

Only what the local stack needs is interpreted: parameters, the intrinsic functions used in
environment variables (Ref, GetAtt, Sub, Join, Select), function properties merged with Globals,
and the HttpApi / DynamoDB / Schedule events of each function."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns the short-form tags (!Ref, !Sub, ...) into their long form."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


@dataclass(frozen=True)
class HttpRoute:
    function: str
    method: str
    path: str
    authorized: bool


@dataclass(frozen=True)
class StreamSubscription:
    function: str
    table: str
    patterns: tuple[dict[str, Any], ...]
    batch_size: int = 100
    maximum_retry_attempts: int = -1
    bisect_on_error: bool = False
    parallelization: int = 1
    report_batch_item_failures: bool = False
    # Logical id of the queue that gets what the mapping gives up on (DestinationConfig.OnFailure).
    on_failure: str | None = None


@dataclass(frozen=True)
class Schedule:
    function: str
    expression: str


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    timeout: int
    memory: int
    environment: dict[str, str]
    routes: tuple[HttpRoute, ...] = ()
    subscriptions: tuple[StreamSubscription, ...] = ()
    schedules: tuple[Schedule, ...] = ()
    ephemeral_storage: int = 512


@dataclass
class Template:
    path: Path
    body: dict[str, Any]
    parameters: dict[str, Any] = field(default_factory=dict)
    # Logical id → physical name/arn, filled in by whoever provisions the resources.
    physical: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)
    stack_name: str = "sitedeploy-local"

    @classmethod
    def load(cls, path: Path, overrides: dict[str, Any] | None = None) -> Template:
        body = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
        params: dict[str, Any] = {}
        for name, spec in (body.get("Parameters") or {}).items():
            if "Default" in spec:
                params[name] = spec["Default"]
        params.update(overrides or {})
        for name, spec in (body.get("Parameters") or {}).items():
            if spec.get("Type") == "CommaDelimitedList" and isinstance(params.get(name), str):
                params[name] = [part.strip() for part in params[name].split(",")]
        return cls(path=path, body=body, parameters=params)

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.body.get("Resources") or {}
        return resources

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: res for name, res in self.resources.items() if res.get("Type") == kind}

    # -- intrinsic functions --------------------------------------------------------------------

    def _pseudo(self, name: str) -> str | None:
        return {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": self.stack_name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }.get(name)

    def ref(self, name: str) -> Any:
        pseudo = self._pseudo(name)
        if pseudo is not None:
            return pseudo
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical:
            return self.physical[name]
        raise KeyError(f"template: cannot resolve Ref {name}")

    def get_att(self, name: str, attribute: str) -> str:
        if (name, attribute) in self.attributes:
            return self.attributes[(name, attribute)]
        raise KeyError(f"template: cannot resolve GetAtt {name}.{attribute}")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.get_att(parts[0], parts[1])
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                sep, items = arg
                return sep.join(str(self.resolve(i)) for i in self.resolve(items))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
        return {k: self.resolve(v) for k, v in value.items()}

    def _sub(self, arg: Any) -> str:
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in extra:
                return str(self.resolve(extra[name]))
            if "." in name and not name.startswith("AWS::"):
                res, att = name.split(".", 1)
                return self.get_att(res, att)
            return str(self.ref(name))

        return re.sub(r"\$\{([^}!]+)\}", replace, str(text))

    # -- functions -------------------------------------------------------------------------------

    def functions(self) -> dict[str, FunctionSpec]:
        glob = ((self.body.get("Globals") or {}).get("Function")) or {}
        specs: dict[str, FunctionSpec] = {}
        for name, res in self.of_type("AWS::Serverless::Function").items():
            props = res.get("Properties") or {}
            env_raw: dict[str, Any] = {}
            env_raw.update(((glob.get("Environment") or {}).get("Variables")) or {})
            env_raw.update(((props.get("Environment") or {}).get("Variables")) or {})
            environment = {k: _env_str(self.resolve(v)) for k, v in env_raw.items()}
            routes: list[HttpRoute] = []
            subs: list[StreamSubscription] = []
            schedules: list[Schedule] = []
            for event in (props.get("Events") or {}).values():
                kind, eprops = event.get("Type"), event.get("Properties") or {}
                if kind == "HttpApi":
                    auth = (eprops.get("Auth") or {}).get("Authorizer")
                    routes.append(HttpRoute(name, str(eprops["Method"]).upper(), str(eprops["Path"]), auth != "NONE"))
                elif kind == "DynamoDB":
                    stream = eprops["Stream"]
                    table = _stream_table(stream)
                    filters = (eprops.get("FilterCriteria") or {}).get("Filters") or []
                    patterns = tuple(json.loads(f["Pattern"]) for f in filters)
                    subs.append(
                        StreamSubscription(
                            function=name,
                            table=table,
                            patterns=patterns,
                            batch_size=int(eprops.get("BatchSize", 100)),
                            maximum_retry_attempts=int(eprops.get("MaximumRetryAttempts", -1)),
                            bisect_on_error=bool(eprops.get("BisectBatchOnFunctionError", False)),
                            parallelization=int(eprops.get("ParallelizationFactor", 1)),
                            report_batch_item_failures="ReportBatchItemFailures"
                            in (eprops.get("FunctionResponseTypes") or []),
                            on_failure=_destination(eprops),
                        )
                    )
                elif kind in {"Schedule", "ScheduleV2"}:
                    schedules.append(Schedule(name, str(eprops.get("Schedule") or eprops.get("ScheduleExpression"))))
            storage = (props.get("EphemeralStorage") or {}).get("Size", 512)
            specs[name] = FunctionSpec(
                logical_id=name,
                code_dir=(self.root / str(props["CodeUri"])).resolve(),
                handler=str(props.get("Handler") or glob.get("Handler")),
                timeout=int(props.get("Timeout", glob.get("Timeout", 3))),
                memory=int(props.get("MemorySize", glob.get("MemorySize", 128))),
                environment=environment,
                routes=tuple(routes),
                subscriptions=tuple(subs),
                schedules=tuple(schedules),
                ephemeral_storage=int(storage),
            )
        return specs

    def http_api_auth(self) -> dict[str, Any]:
        """The JWT authorizer of the (one) HttpApi: issuer and audiences, resolved."""
        for res in self.of_type("AWS::Serverless::HttpApi").values():
            auth = (res.get("Properties") or {}).get("Auth") or {}
            default = auth.get("DefaultAuthorizer")
            config = ((auth.get("Authorizers") or {}).get(default) or {}).get("JwtConfiguration") or {}
            audience = self.resolve(config.get("audience"))
            return {
                "issuer": self.resolve(config.get("issuer")),
                "audience": audience if isinstance(audience, list) else [audience],
            }
        raise KeyError("template: no HttpApi with a JWT authorizer")


def _env_str(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _stream_table(stream: Any) -> str:
    """The logical id of the table whose stream an event reads (``!GetAtt T.StreamArn``)."""
    if isinstance(stream, dict) and "Fn::GetAtt" in stream:
        arg = stream["Fn::GetAtt"]
        parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
        return str(parts[0])
    raise ValueError(f"template: unsupported stream reference {stream!r}")


def _destination(eprops: dict[str, Any]) -> str | None:
    target = ((eprops.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    if isinstance(target, dict) and "Fn::GetAtt" in target:
        arg = target["Fn::GetAtt"]
        return str((arg if isinstance(arg, list) else str(arg).split(".", 1))[0])
    return None
