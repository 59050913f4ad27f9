"""Run majora-lite under waitress (multi-threaded), write server.json, shut down cleanly on signals."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import signal
import sys
from pathlib import Path

from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.task import WSGITask

from majora_lite.server.settings import DEFAULT_MAX_ACTIVE, MAX_BODY_BYTES, admin_secret
from majora_lite.server.wsgi import DropConnection, LiteApp

log = logging.getLogger("majora_lite")


class _LiteTask(WSGITask):
    def service(self):
        try:
            super().service()
        except DropConnection:
            # Nothing has been written: mark the headers as sent so waitress writes nothing,
            # then close the socket. The client sees a connection closed without a response.
            self.wrote_header = True
            self.close_on_finish = True


class _LiteChannel(HTTPChannel):
    task_class = _LiteTask


class _Stop(Exception):
    pass


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a same-directory temp file, fsync and rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def serve(data_dir: Path, host: str, port: int, threads: int, max_active: int = DEFAULT_MAX_ACTIVE) -> int:
    """Serve until SIGTERM/SIGINT; returns an exit status."""
    from django.core.wsgi import get_wsgi_application

    from majora_lite.api import tasks

    app = LiteApp(get_wsgi_application(), max_active=max_active, admin_secret=admin_secret(data_dir))
    server = create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        max_request_body_size=MAX_BODY_BYTES,
        ident="majora-lite",
        expose_tracebacks=False,
        channel_timeout=120,
        connection_limit=1000,
    )
    server.channel_class = _LiteChannel
    real_port = int(server.effective_port)
    url_host = f"[{host}]" if ":" in host else host
    url = f"http://{url_host}:{real_port}/"
    info_path = data_dir / "server.json"
    tasks.requeue_pending()

    def _stop(signum, frame):
        raise _Stop

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    write_atomic(info_path, json.dumps({"url": url, "port": real_port, "pid": os.getpid()}))
    print(f"majora-lite listening on {url}", flush=True)
    if not _is_loopback(host):
        print(f"majora-lite: WARNING: listening on {host}, which is reachable from other machines; "
              "majora-lite serves plain HTTP (passwords, tokens and API keys cross the network "
              "unencrypted) and is a test server: bind to 127.0.0.1 unless this network is trusted",
              file=sys.stderr, flush=True)
    try:
        server.run()
    except _Stop:
        pass
    finally:
        # Let in-flight requests finish before the event loop's trigger is closed.
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        server.close()
        tasks.shutdown()
        try:
            if json.loads(info_path.read_text()).get("pid") == os.getpid():
                info_path.unlink()
        except (OSError, ValueError):
            pass
        print("majora-lite stopped", file=sys.stderr, flush=True)
    return 0
