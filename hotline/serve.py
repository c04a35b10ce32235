"""daphne as production runs it: ``python -m hotline.serve`` takes daphne's own arguments.

The only difference from the ``daphne`` command is the access log. daphne writes
every request's full URI to it (stdout, i.e. the journal, unless ``--access-log``
says otherwise), and URIs carry personal data and credentials: the public
tracking look-up and the agents' search by caller take a phone number in the
query string, and a citizen's chat socket has its bearer token in the path
(``/ws/chat/<token>/``). Here the log keeps the method, the path without its
query string, the status and the size, with chat tokens replaced by ``…``:
enough to follow traffic per process, nothing to leak. nginx's access log has the
same rule (``deploy/nginx.conf``, ``hotline_noargs``), and the project's own log
lines go through ``hotline.logs.RedactFilter``.

``deploy/systemd/hotline-daphne@.service`` starts it; ``tests/trust/test_proxy.py``
starts it with that unit's very arguments and reads what it logged.
"""

from __future__ import annotations

from daphne.cli import CommandLineInterface
from daphne.server import Server

from hotline.logs import loggable_path


class HotlineServer(Server):
    def log_action(self, protocol, action, details):
        if isinstance(details, dict) and isinstance(details.get("path"), str):
            details = {**details, "path": loggable_path(details["path"])}
        super().log_action(protocol, action, details)


class HotlineCommandLine(CommandLineInterface):
    description = "12345 hotline: daphne with an access log without query strings or tokens"
    server_class = HotlineServer


if __name__ == "__main__":
    HotlineCommandLine.entrypoint()
