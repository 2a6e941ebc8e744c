"""The HTTP side of the local Tradier server: parse a request (query and form body), write a Reply."""
from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from trader.broker.tradier_sim_shapes import Reply


class Dispatcher(Protocol):
    """What the HTTP side calls on the simulator (TradierSim provides it)."""

    def dispatch(self, method: str, path: str, params: dict[str, str], headers: dict[str, str]) -> Reply: ...


class SimHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its simulator."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: Dispatcher) -> None:
        super().__init__(address, SimHandler)
        self.sim = sim


class SimHandler(BaseHTTPRequestHandler):
    """Turns HTTP requests into TradierSim.dispatch calls."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: with Nagle each answer waits ~40 ms for an ACK
    server: SimHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log (requests are recorded by the simulator)."""

    def _params(self) -> dict[str, str]:
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        if length > 0:
            raw = self.rfile.read(length).decode("utf-8", errors="replace")
            if "application/x-www-form-urlencoded" in (self.headers.get("Content-Type") or ""):
                params.update(dict(parse_qsl(raw, keep_blank_values=True)))
        return params

    def _serve(self, method: str) -> None:
        params = self._params()
        path = urlsplit(self.path).path
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.server.sim.dispatch(method, path, params, headers)
        self._write(reply)

    def _write(self, reply: Reply) -> None:
        if isinstance(reply.body, dict):
            data = json.dumps(reply.body).encode()
            ctype = "application/json"
        else:
            data = (reply.body or "").encode()
            ctype = "text/plain; charset=utf-8"
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a scripted timeout)

    def do_GET(self) -> None:
        """Handle GET."""
        self._serve("GET")

    def do_POST(self) -> None:
        """Handle POST."""
        self._serve("POST")

    def do_PUT(self) -> None:
        """Handle PUT (not implemented by the simulator: 405)."""
        self._serve("PUT")

    def do_DELETE(self) -> None:
        """Handle DELETE."""
        self._serve("DELETE")
