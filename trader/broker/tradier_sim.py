"""A local Tradier server: a real HTTP server on 127.0.0.1 speaking Tradier's wire format over a replayed market.

    with TradierSim(generate_synthetic(sessions=2, seed=1), token="t", account_id="VA00000001") as sim:
        client = TradierClient("t", "VA00000001", base_url=sim.url)
        sim.advance(30)                                   # or POST {url}/sim/advance with n=30
        sim.inject("/markets/quotes", 500, count=2)       # the next two quote calls fail
        sim.inject("/accounts", "fail_after_accept", method="POST")   # the classic duplicate-order trap

The clock is a bar position moved by the driver (advance, set_index, autoplay, or POST /v1/sim/advance); market
data never reveals a bar after it. Every answer carries X-Ratelimit-* headers; a missing or wrong bearer token
gets 401 with Apigee's fault body; a request that does not accept application/json gets 406.
"""
from __future__ import annotations

import hmac
import threading
import time
from dataclasses import dataclass
from typing import Any, Self

from trader.broker.tradier_sim_account import SimAccount
from trader.broker.tradier_sim_faults import FaultPlan, SimRateLimiter, normalize_path, quota_body, rate_headers
from trader.broker.tradier_sim_http import SimHTTPServer
from trader.broker.tradier_sim_market import SimMarketView
from trader.broker.tradier_sim_routes import route
from trader.broker.tradier_sim_shapes import AUTH_FAULT, EMPTY_STYLES, Reply, error_reply
from trader.broker.tradier_wire import rate_category
from trader.errors import GaussianError
from trader.market.base import Market


@dataclass(frozen=True)
class SimRequest:
    """One request the server received (method, path, parameters; never the token)."""

    method: str
    path: str
    params: dict[str, str]
    time: float


class TradierSim:
    """The local Tradier server (see the module docstring)."""

    def __init__(self, market: Market, *, token: str = "sim-token", account_id: str = "VA00000001",
                 cash: float = 100_000.0, start_index: int = 0, host: str = "127.0.0.1", port: int = 0,
                 rate_limit: int = 120, rate_window_s: float = 60.0, quota_status: int = 429,
                 account_type: str = "margin", commission_per_contract: float = 0.0,
                 empty_style: str | None = None) -> None:
        if not token:
            raise GaussianError("The local Tradier server needs a non-empty token to expect.")
        if empty_style is not None and empty_style not in EMPTY_STYLES:
            raise GaussianError(f"empty_style {empty_style!r} is not one of {', '.join(EMPTY_STYLES)}.")
        if account_type not in ("margin", "cash"):
            raise GaussianError(f"account_type {account_type!r} is not margin or cash.")
        if quota_status not in (400, 429):
            raise GaussianError(f"quota_status {quota_status} is not 400 or 429.")
        self.view = SimMarketView(market, empty_style=empty_style)
        self.account = SimAccount(account_id=account_id, cash=float(cash), account_type=account_type,
                                  commission_per_contract=float(commission_per_contract))
        self.faults = FaultPlan()
        self.limiter = SimRateLimiter(rate_limit, rate_window_s)
        self.quota_status = int(quota_status)
        self.lock = threading.RLock()
        self._token = token
        self._host = host
        self._port = int(port)
        self._index = 0
        self.exhausted = False
        self._requests: list[SimRequest] = []
        self._server: SimHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._autoplay: threading.Thread | None = None
        self.set_index(start_index)

    def __repr__(self) -> str:
        return f"TradierSim(url={self.url if self._server else None!r}, index={self._index}, token=***)"

    # ---------------------------------------------------------------------------------------- lifecycle
    def start(self) -> Self:
        """Bind the port (0 = any free port) and serve in a background thread."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = SimHTTPServer((self._host, self._port), self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="tradier-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (sleeping scripted timeouts are woken) and release the port."""
        self._stopping.set()
        if self._autoplay is not None:
            self._autoplay.join(timeout=5)
            self._autoplay = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port."""
        if self._server is None:
            raise GaussianError("The local Tradier server is not started; call start() first.")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL to give a client, ending with /v1."""
        return f"http://{self._host}:{self.port}/v1"

    # -------------------------------------------------------------------------------------------- clock
    @property
    def index(self) -> int:
        """The current bar position."""
        return self._index

    @property
    def now(self) -> Any:
        """The simulated time: the current bar's close (tz-aware pandas Timestamp)."""
        return self.view.now(self._index)

    def set_index(self, i: int) -> int:
        """Jump to bar position i (moving forward brings the account along bar by bar)."""
        i = int(i)
        if not 0 <= i < self.view.n:
            raise GaussianError(f"Bar position {i} is outside the market's {self.view.n} bars.")
        with self.lock:
            old = self._index
            self._index = i
            self.exhausted = False
            if i > old:
                self._walk(old, i)
            else:
                self.account.on_bar(self.view, i, new_session=i == 0 or self.view.dates[i] != self.view.dates[old])
        return i

    def _walk(self, old: int, new: int) -> None:
        acct, dates = self.account, self.view.dates
        if not acct.open_orders() and not acct.positions:
            return
        for j in range(old + 1, new + 1):
            acct.on_bar(self.view, j, new_session=dates[j] != dates[j - 1])

    def advance(self, n: int = 1) -> int:
        """Move n bars forward (stopping at the last bar, after which the clock reads closed); the new index."""
        if n < 1:
            raise GaussianError(f"advance needs n >= 1, got {n}.")
        with self.lock:
            target = self._index + int(n)
            if target >= self.view.n:
                self.set_index(self.view.n - 1)
                self.exhausted = True
            else:
                self.set_index(target)
            return self._index

    def autoplay(self, every_s: float) -> None:
        """Advance one bar every `every_s` seconds in a background thread until stop()."""
        if every_s <= 0:
            raise GaussianError(f"autoplay needs a positive interval, got {every_s}.")

        def run() -> None:
            while not self._stopping.wait(every_s):
                if not self.exhausted:
                    self.advance(1)

        self._autoplay = threading.Thread(target=run, name="tradier-sim-autoplay", daemon=True)
        self._autoplay.start()

    def state(self) -> dict[str, Any]:
        """The simulator's clock as JSON (index, bars, time, exhausted)."""
        return {"index": self._index, "bars": self.view.n, "timestamp": self.now.isoformat(),
                "exhausted": self.exhausted}

    # ------------------------------------------------------------------------------------------- faults
    def inject(self, path_prefix: str, kind: str | int, count: int = 1, *, method: str | None = None,
               delay_s: float = 1.0, expiry_ms: int = 250, message: str | None = None) -> None:
        """Script `count` faults for requests under `path_prefix` (with or without /v1); kinds in
        trader.broker.tradier_sim_faults.FAULT_KINDS (500, 502, 503, 404, 429, quota400, timeout,
        timeout_after_accept, reject, fail_after_accept, garbled_after_accept)."""
        self.faults.add(path_prefix, kind, count, method=method, delay_s=delay_s, expiry_ms=expiry_ms,
                        message=message)

    @property
    def requests(self) -> list[SimRequest]:
        """The requests received so far (authenticated or not), oldest first."""
        with self.lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        with self.lock:
            self._requests.clear()

    @property
    def quota_violations(self) -> int:
        """How many requests were refused for exceeding the real (not scripted) rate limit."""
        return self.limiter.violations

    # ----------------------------------------------------------------------------------------- requests
    def dispatch(self, method: str, path: str, params: dict[str, str], headers: dict[str, str]) -> Reply:
        """Answer one request: auth, Accept, rate limit, scripted fault, then the endpoint."""
        with self.lock:
            self._requests.append(SimRequest(method, path, dict(params), time.time()))
        if not path.startswith("/v1/"):
            return Reply(404, "Not Found")
        auth = headers.get("authorization", "")
        if not hmac.compare_digest(auth.encode(), f"Bearer {self._token}".encode()):
            return Reply(401, AUTH_FAULT)
        accept = headers.get("accept", "")
        if "application/json" not in accept:
            return Reply(406, "This server answers JSON only; send Accept: application/json.")
        ok, rl = self.limiter.hit(rate_category(method, path))
        if not ok:
            return self._quota(self.quota_status, int(rl["X-Ratelimit-Expiry"]), rl)
        fault = self.faults.take(method, normalize_path(path))
        if fault is None:
            return self._route(method, path, params, rl)
        kind = fault.kind
        if kind in ("500", "502", "503", "404"):
            text = {"500": "Internal Server Error", "502": "<html><body>502 Bad Gateway</body></html>",
                    "503": "Service Unavailable", "404": "Not Found"}[kind]
            return Reply(int(kind), text, rl)
        if kind in ("429", "quota400"):
            expiry = int(time.time() * 1000) + fault.expiry_ms
            return self._quota(429 if kind == "429" else 400, expiry,
                               rate_headers(self.limiter.allowed, self.limiter.allowed, expiry))
        if kind == "timeout":
            self._stopping.wait(fault.delay_s)
            return Reply(504, "Gateway Timeout", rl)
        if kind == "reject":
            is_order = method == "POST" and path.rstrip("/").endswith("/orders")
            return Reply(200 if is_order else 400, {"errors": {"error": fault.message}}, rl)
        reply = self._route(method, path, params, rl)
        if kind == "timeout_after_accept":
            self._stopping.wait(fault.delay_s)
            return reply
        if kind == "garbled_after_accept":
            return Reply(200, "<html><body>OK</body></html>", rl)
        return Reply(500, "Internal Server Error", rl)  # fail_after_accept: the work was done

    def _route(self, method: str, path: str, params: dict[str, str], rl: dict[str, str]) -> Reply:
        with self.lock:
            try:
                reply = route(self, method, path, params)
            except GaussianError as exc:
                reply = error_reply(400, str(exc))
        reply.headers.update(rl)
        return reply

    @staticmethod
    def _quota(status: int, expiry_ms: int, headers: dict[str, str]) -> Reply:
        return Reply(status, quota_body(expiry_ms), {**headers, "X-Ratelimit-Available": "0",
                                                    "X-Ratelimit-Expiry": str(expiry_ms)})
