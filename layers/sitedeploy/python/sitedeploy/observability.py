"""The Powertools logger, tracer and metrics every function shares (configured by POWERTOOLS_* env).

The tracer patches what the service calls through and nothing else: botocore (AWS) and http.client
(under urllib3, the platforms' APIs). Left to patch everything X-Ray knows, it imports every such
library it finds installed (requests, sqlite3, database drivers...) at every cold start, for nothing.

The X-Ray SDK itself is loaded when the first traced call begins (the handler's own subsegment),
not when a handler module is imported: Powertools imports it in ``Tracer()`` even with tracing
disabled, and its import pulls in botocore's client machinery. With tracing on, the first
invocation pays that instead of the import; with tracing off (the local stack, tests, operators
who turn X-Ray off) it is never paid."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Generator, Sequence
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

TRACED_MODULES = ("botocore", "httplib")


class Untraced(BaseSegment):
    """What a traced call records into while tracing is off: nothing."""

    def close(self, end_time: int | None = None) -> None:
        return None

    def add_subsegment(self, subsegment: Any) -> None:
        return None

    def remove_subsegment(self, subsegment: Any) -> None:
        return None

    def put_annotation(self, key: str, value: Any) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        return None

    def add_exception(
        self, exception: BaseException, stack: list[traceback.StackSummary], remote: bool = False
    ) -> None:
        return None


class DeferredXRay(BaseProvider):
    """The X-Ray recorder, imported, configured and patched in on first use; never while
    ``enabled`` says tracing is off (Powertools' decorators call their provider either way)."""

    def __init__(self, modules: Sequence[str], enabled: Callable[[], bool] = lambda: True) -> None:
        self._modules = tuple(modules)
        self._recorder: Any = None
        self._sdk: Any = None
        self._lock = threading.Lock()
        self.enabled = enabled

    @property
    def loaded(self) -> bool:
        return self._recorder is not None

    def recorder(self) -> Any:
        if self._recorder is None:
            with self._lock:
                if self._recorder is None:
                    import aws_xray_sdk.core as sdk  # type: ignore[import-untyped]

                    # As Powertools does for its own provider: send subsegments as they close.
                    sdk.xray_recorder.configure(streaming_threshold=0)
                    sdk.patch(self._modules)
                    self._sdk = sdk
                    self._recorder = sdk.xray_recorder
        return self._recorder

    @contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Generator[BaseSegment, None, None]:
        if not self.enabled():
            yield Untraced()
            return
        with self.recorder().in_subsegment(name=name, **kwargs) as subsegment:
            yield subsegment

    def in_subsegment_async(self, name: str | None = None, **kwargs: Any) -> AbstractAsyncContextManager[BaseSegment]:
        context: AbstractAsyncContextManager[BaseSegment] = self.recorder().in_subsegment_async(name=name, **kwargs)
        return context

    def put_annotation(self, key: str, value: Any) -> None:
        if self.enabled():
            self.recorder().put_annotation(key=key, value=value)

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        if self.enabled():
            self.recorder().put_metadata(key=key, value=value, namespace=namespace)

    def patch(self, modules: Sequence[str]) -> None:
        self.recorder()
        self._sdk.patch(modules)

    def patch_all(self) -> None:
        self.recorder()
        self._sdk.patch_all()


xray = DeferredXRay(TRACED_MODULES)
logger = Logger()
# auto_patch off: the provider patches TRACED_MODULES itself when it loads.
tracer = Tracer(provider=xray, auto_patch=False)
xray.enabled = lambda: not tracer.disabled
metrics = Metrics(namespace="sitedeploy")
