"""Placing, previewing and cancelling Tradier option orders without ever duplicating one.

Each order carries a unique `tag`. After a failed or timed-out submission the account's orders are listed and
searched for that tag before anything else: a found order is returned (OrderAck.recovered) instead of placing a
second one; after a timeout (or an unreadable success) an order that is not found is reported as
TradierOrderUncertain, not resubmitted, because the first request may still be processed. Only answers that
prove nothing was placed (a 5xx/429/quota answer, a refused connection) lead to a resubmission.
"""
from __future__ import annotations

import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from trader.broker.tradier_errors import TradierAuthError, TradierError, TradierOrderRejected, TradierOrderUncertain
from trader.broker.tradier_models import OrderAck, OrderPreview, TradierOrder
from trader.broker.tradier_transport import ORDER_RETRY_STATUSES, Attempt
from trader.broker.tradier_wire import TAG_RE, error_text
from trader.options import parse_occ

if TYPE_CHECKING:
    from trader.broker.tradier_transport import TradierTransport

log = logging.getLogger("gaussian.tradier")

ORDER_SIDES = ("buy_to_open", "buy_to_close", "sell_to_open", "sell_to_close")
ORDER_TYPES = ("market", "limit", "stop", "stop_limit")
DURATIONS = ("day", "gtc", "pre", "post")
_ENDPOINT = "POST /accounts/{account}/orders"


def new_order_tag(prefix: str = "gx") -> str:
    """A fresh unique order tag (letters, digits and '-', as Tradier allows)."""
    return f"{prefix}-{uuid.uuid4().hex}"


def _is_json(response: Any) -> bool:
    try:
        response.json()
    except ValueError:
        return False
    return True


class TradierOrdersMixin:
    """The order methods of TradierClient (see the module docstring); the client provides the transport, the
    account path `_acct`, `orders()` and the retry/lookup settings."""

    _t: TradierTransport
    _acct: str
    max_retries: int
    lookup_attempts: int
    lookup_delay_s: float

    def find_order_by_tag(self, tag: str, page_size: int = 100, max_pages: int = 10) -> TradierOrder | None:
        """The order carrying `tag` among the account's orders (paged), or None."""
        seen: set[int] = set()
        for page in range(1, max_pages + 1):
            batch = self.orders(include_tags=True, page=page, limit=page_size)
            hit = next((o for o in batch if o.tag == tag), None)
            if hit is not None:
                return hit
            ids = {o.id for o in batch}
            if len(batch) < page_size or ids <= seen:
                return None
            seen |= ids
        return None

    def _order_form(self, option_symbol: str, side: str, quantity: int, order_type: str, duration: str,
                    price: float | None, tag: str, underlying: str | None) -> dict[str, str]:
        contract = parse_occ(option_symbol)
        if side not in ORDER_SIDES:
            raise TradierError(f"Order side {side!r} is not one of {', '.join(ORDER_SIDES)}.")
        if order_type not in ORDER_TYPES:
            raise TradierError(f"Order type {order_type!r} is not one of {', '.join(ORDER_TYPES)}.")
        if duration not in DURATIONS:
            raise TradierError(f"Order duration {duration!r} is not one of {', '.join(DURATIONS)}.")
        if isinstance(quantity, bool) or int(quantity) != quantity or quantity <= 0:
            raise TradierError(f"Order quantity {quantity!r} must be a positive whole number of contracts.")
        if order_type in ("limit", "stop_limit") and (price is None or not price > 0):
            raise TradierError(f"A {order_type} order needs a positive price, got {price!r}.")
        if not TAG_RE.match(tag):
            raise TradierError(f"Order tag {tag!r} must be 1-255 letters, digits or '-'.")
        form = {"class": "option", "symbol": underlying or contract.root, "option_symbol": option_symbol,
                "side": side, "quantity": str(int(quantity)), "type": order_type, "duration": duration, "tag": tag}
        if price is not None and order_type in ("limit", "stop_limit"):
            form["price"] = f"{float(price):.2f}"
        return form

    def preview_option_order(self, option_symbol: str, side: str, quantity: int, *, order_type: str = "market",
                             duration: str = "day", price: float | None = None,
                             underlying: str | None = None) -> OrderPreview:
        """Validate an option order and show its cost without placing it (`preview=true`); rejections raise
        TradierOrderRejected."""
        form = self._order_form(option_symbol, side, quantity, order_type, duration, price, new_order_tag("pv"),
                                underlying)
        form["preview"] = "true"
        path = f"{self._acct}/orders"
        try:
            body = self._t.request_json("POST", path, data=form)
        except TradierAuthError:
            raise
        except TradierError as exc:
            if exc.status is not None and 200 <= exc.status < 500:
                raise TradierOrderRejected(f"Tradier rejected the order preview: {exc.detail}", status=exc.status,
                                           endpoint=exc.endpoint, detail=exc.detail) from None
            raise
        return OrderPreview.model_validate(body.get("order") or {})

    def place_option_order(self, option_symbol: str, side: str, quantity: int, *, order_type: str = "market",
                           duration: str = "day", price: float | None = None, tag: str | None = None,
                           underlying: str | None = None) -> OrderAck:
        """Place an option order (accepted is not filled: poll `order(id)`); safe against duplicates, see the
        module docstring. Raises TradierOrderRejected (not retried) or TradierOrderUncertain (fate unknown)."""
        tag = tag or new_order_tag()
        form = self._order_form(option_symbol, side, quantity, order_type, duration, price, tag, underlying)
        path = f"{self._acct}/orders"
        endpoint = _ENDPOINT
        tries = self.max_retries + 1
        problem = ""
        for attempt in range(tries):
            result = self._t.send_once("POST", path, data=form)
            response = result.response
            if response is not None and not result.quota and response.status_code not in ORDER_RETRY_STATUSES:
                if response.status_code < 300 and not _is_json(response):
                    return self._unreadable_success(tag, response)
                return self._accepted(path, response, tag)
            problem = self._describe(result)
            log.warning("Tradier order %s: %s; looking the order up by its tag", tag, problem)
            found = self._lookup(tag, timed_out=result.timed_out or (response is None and result.maybe_sent),
                                 problem=problem)
            if found is not None:
                log.info("Tradier order %s was placed after all (order %d); not resubmitting", tag, found.id)
                return OrderAck(id=found.id, status="ok", tag=tag, recovered=True)
            if response is None and result.maybe_sent:
                raise TradierOrderUncertain(
                    f"Order {tag}: the submission {problem} and no order with this tag was found; it was not "
                    "resubmitted because the first request may still be processed. Check the account's orders "
                    "before trying again.", tag=tag, endpoint=endpoint, detail=problem)
            if attempt + 1 < tries:
                delay = self._t.backoff(attempt, response)
                log.warning("Tradier order %s not found by tag; resubmitting (%d/%d) in %.2f s", tag,
                            attempt + 1, tries - 1, delay)
                time.sleep(delay)
        raise TradierError(f"Order {tag} could not be placed after {tries} attempts: {problem}",
                           endpoint=endpoint, detail=problem)

    def _unreadable_success(self, tag: str, response: Any) -> OrderAck:
        """A 2xx order answer that is not JSON: the order may exist, so look it up by tag; never resubmit."""
        problem = f"got HTTP {response.status_code} with a body that is not JSON"
        found = self._lookup(tag, timed_out=True, problem=problem)
        if found is not None:
            return OrderAck(id=found.id, status="ok", tag=tag, recovered=True)
        raise TradierOrderUncertain(
            f"Order {tag}: the submission {problem} and no order with this tag was found; it was not resubmitted. "
            "Check the account's orders before trying again.", tag=tag, status=response.status_code,
            endpoint=_ENDPOINT, detail=problem)

    def _describe(self, result: Attempt) -> str:
        if result.response is None:
            return result.error
        text = self._t.scrub(error_text(result.response.text, limit=160))
        return f"failed with HTTP {result.response.status_code} ({text})"

    def _lookup(self, tag: str, *, timed_out: bool, problem: str) -> TradierOrder | None:
        """Look an order up by tag, a few times after a timeout (the first request may land late)."""
        attempts = self.lookup_attempts if timed_out else 1
        for i in range(attempts):
            try:
                found = self.find_order_by_tag(tag)
            except TradierError as exc:
                raise TradierOrderUncertain(
                    f"Order {tag}: the submission {problem}, and listing orders to check its tag failed too "
                    f"({exc}); it was not resubmitted. Check the account's orders before trying again.",
                    tag=tag, status=exc.status, endpoint=exc.endpoint, detail=exc.detail) from None
            if found is not None:
                return found
            if i + 1 < attempts:
                time.sleep(self.lookup_delay_s)
        return None

    def _accepted(self, path: str, response: Any, tag: str) -> OrderAck:
        """Decode an order POST's answer: an `errors` body (200 or 4xx) is a rejection, never retried."""
        try:
            body = self._t.decode("POST", path, response)
        except TradierAuthError:
            raise
        except TradierError as exc:
            raise TradierOrderRejected(f"Tradier rejected order {tag}: {exc.detail}", status=exc.status,
                                       endpoint=_ENDPOINT, detail=exc.detail) from None
        raw = body.get("order")
        if not isinstance(raw, dict) or raw.get("id") is None:
            raise TradierOrderRejected(f"Tradier answered order {tag} without an order id: {str(body)[:160]}",
                                       status=response.status_code, endpoint=_ENDPOINT)
        status = str(raw.get("status", ""))
        if status != "ok":
            raise TradierOrderRejected(f"Tradier answered order {tag} with status {status!r}.",
                                       status=response.status_code, endpoint=_ENDPOINT)
        return OrderAck(id=int(raw["id"]), status=status, partner_id=raw.get("partner_id"), tag=tag)

    def cancel_order(self, order_id: int) -> OrderAck:
        """Ask Tradier to cancel an open order (asynchronous: poll the order); a finalized order raises."""
        body = self._t.request_json("DELETE", f"{self._acct}/orders/{int(order_id)}", retry=False)
        raw = body.get("order") or {}
        return OrderAck(id=int(raw.get("id", order_id)), status=str(raw.get("status", "")))
