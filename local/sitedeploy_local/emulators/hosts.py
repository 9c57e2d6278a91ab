"""Custom hostnames on loopback: one port per platform that answers every request as the site its
``Host`` header names (once the platform would serve it there: verified, with its certificate), so
that a test, or a browser told to resolve the name to 127.0.0.1, can open a site on its own domain.
The DNS it checks records against is the stack's (``dns``): what the tests say users created."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from sitedeploy_local.emulators.dns import Dns
from sitedeploy_local.emulators.loopback import SiteAnswer, SiteServer

NOT_HERE = SiteAnswer(404, [("Content-Type", "text/plain; charset=utf-8")], b"No site answers on this hostname here.")
HostAnswer = Callable[[str, str, str, Mapping[str, str]], SiteAnswer | None]


def host_of(headers: Mapping[str, str]) -> str:
    return headers.get("host", "").split(":")[0].strip().rstrip(".").lower()


class CustomHosts:
    """Mixed into an emulator: ``dns`` (replaceable: the stack shares one), ``domains_port``."""

    dns: Dns
    _hosts_server: SiteServer | None
    _hosts_lock: threading.Lock

    def _init_hosts(self, answer: HostAnswer, *, name: str, server_version: str) -> None:
        self.dns = Dns()
        self._hosts_answer = answer
        self._hosts_name = name
        self._hosts_version = server_version
        self._hosts_server = None
        self._hosts_lock = threading.Lock()

    @property
    def domains_port(self) -> int:
        """The port custom hostnames are served on (started on first use)."""
        with self._hosts_lock:
            if self._hosts_server is None:
                self._hosts_server = SiteServer(
                    self._by_host, name=self._hosts_name, server_version=self._hosts_version
                )
                self._hosts_server.start()
            return self._hosts_server.port

    def _by_host(self, method: str, target: str, headers: Mapping[str, str]) -> SiteAnswer:
        found = self._hosts_answer(host_of(headers), method, target, headers)
        return found if found is not None else NOT_HERE

    def _stop_hosts(self) -> None:
        with self._hosts_lock:
            server, self._hosts_server = self._hosts_server, None
        if server is not None:
            server.stop()
