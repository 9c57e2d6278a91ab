"""Where the local stack serves a site: the functions ask its control endpoint once, when a
deployment ends ready, so an answer lost on a busy machine must not leave the deployment without
its ``localUrl`` (seen in CI: 120 deploys at once, one lookup past a 2 s read timeout)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from sitedeploy.domain.models import Platform, SiteAddress
from sitedeploy.services import local_preview_urls, local_site_urls


class _Flaky:
    """A control endpoint that drops the first ``drops`` requests without answering."""

    def __init__(self, drops: int) -> None:
        self.drops = drops
        self.seen: list[str] = []
        flaky = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                flaky.seen.append(self.path)
                if len(flaky.seen) <= flaky.drops:
                    self.close_connection = True
                    self.connection.close()  # a reset: no status line at all
                    return
                body = json.dumps({"url": "http://127.0.0.1:1/site/"}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/cloudflare"


@pytest.fixture
def flaky() -> Iterator[Callable[[int], _Flaky]]:
    made: list[_Flaky] = []

    def make(drops: int) -> _Flaky:
        endpoint = _Flaky(drops)
        threading.Thread(target=endpoint.server.serve_forever, daemon=True).start()
        made.append(endpoint)
        return endpoint

    yield make
    for endpoint in made:
        endpoint.server.shutdown()
        endpoint.server.server_close()


def test_a_dropped_answer_is_asked_again(flaky: Callable[[int], _Flaky]) -> None:
    endpoint = flaky(1)  # answers dropped first
    lookup = local_site_urls({"cloudflare": endpoint.base})
    url = lookup(Platform.CLOUDFLARE, SiteAddress(account_id="acc", name="site"))
    assert url == "http://127.0.0.1:1/site/"
    assert len(endpoint.seen) == 2
    assert endpoint.seen[-1].startswith("/cloudflare/site-url?")
    assert "name=site" in endpoint.seen[-1]


def test_an_endpoint_that_never_answers_gives_no_url_after_three_tries(flaky: Callable[[int], _Flaky]) -> None:
    endpoint = flaky(10)  # answers dropped first
    lookup = local_preview_urls({"cloudflare": endpoint.base})
    assert lookup(Platform.CLOUDFLARE, "https://a.example") is None
    assert len(endpoint.seen) == 3


def test_a_platform_without_a_control_endpoint_is_not_asked(flaky: Callable[[int], _Flaky]) -> None:
    endpoint = flaky(0)  # answers dropped first
    lookup = local_site_urls({"cloudflare": endpoint.base})
    assert lookup(Platform.NETLIFY, SiteAddress(account_id="acc", name="site")) is None
    assert endpoint.seen == []
