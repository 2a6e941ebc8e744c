"""Who may change things: the web token (GAUSSIAN_WEB_TOKEN or <home>/web_token), the loopback rule, the sign-in
cookie and CSRF for form posts, and `require_token`, the dependency every state-changing route uses.

Read-only pages and GETs are open on loopback. A state-changing request proves itself one of two ways:
- a script sends the token in `Authorization: Bearer TOKEN` (or `X-Gaussian-Token: TOKEN`); no cookie involved,
  so no cross-site request can forge it;
- a browser signs in once (the token typed into /login sets an HttpOnly, SameSite=Strict cookie) and every form
  carries a CSRF field derived from the token (HMAC), which only a page rendered for that cookie knows.
Missing proof is 401, wrong proof is 403; nothing is changed either way.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
from pathlib import Path

from fastapi import HTTPException, Request

from trader.errors import GaussianError

TOKEN_ENV = "GAUSSIAN_WEB_TOKEN"
TOKEN_FILE = "web_token"
COOKIE = "gaussian_web"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


class WebSetupError(GaussianError):
    """The server cannot start safely (a public address without a token, an unreadable token file)."""


def token_path(home: Path) -> Path:
    """<home>/web_token: the token generated at first start (mode 600)."""
    return Path(home) / TOKEN_FILE


def env_token() -> str | None:
    """GAUSSIAN_WEB_TOKEN when set and not blank."""
    value = os.environ.get(TOKEN_ENV, "").strip()
    return value or None


def load_or_create_token(home: Path) -> tuple[str, bool]:
    """The token of this home: read <home>/web_token, or generate one into it (mode 600); (token, created now)."""
    path = token_path(home)
    if path.exists():
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise WebSetupError(f"{path}: cannot read the web token ({exc.strerror})") from None
        if len(text) < 16:
            raise WebSetupError(f"{path}: the web token is shorter than 16 characters; delete the file to get a new one")
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return text, False
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    return token, True


def is_loopback(host: str) -> bool:
    """Whether `host` is a loopback address or the name localhost."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token_set: bool) -> None:
    """Refuse a non-loopback address unless a token was set explicitly (GAUSSIAN_WEB_TOKEN)."""
    if not is_loopback(host) and not token_set:
        raise WebSetupError(f"refusing to listen on {host}, which is not a loopback address, without a token: "
                            f"set {TOKEN_ENV} first (or keep the default --host 127.0.0.1)")


def csrf_for(token: str) -> str:
    """The CSRF value forms carry: an HMAC of a fixed label under the token (reveals nothing of the token)."""
    return hmac.new(token.encode(), b"gaussian-web-csrf", hashlib.sha256).hexdigest()


def same_token(a: str, b: str) -> bool:
    """Constant-time comparison of two tokens."""
    return hmac.compare_digest(a.encode(), b.encode())


def signed_in(request: Request) -> bool:
    """Whether the browser holds a valid sign-in cookie (pages then show their buttons with a CSRF field)."""
    cookie = request.cookies.get(COOKIE)
    return bool(cookie) and same_token(cookie, request.app.state.web_token)


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-gaussian-token")


async def require_token(request: Request) -> str:
    """FastAPI dependency for state-changing routes: 401 without proof, 403 with a wrong one; returns the actor
    kind ("api" or "browser")."""
    token: str = request.app.state.web_token
    supplied = _bearer(request)
    if supplied is not None:
        if not same_token(supplied, token):
            raise HTTPException(403, "the web token is wrong; nothing was changed")
        return "api"
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        raise HTTPException(401, "this action needs the web token: sign in at /login (or send "
                                 "'Authorization: Bearer TOKEN'); nothing was changed")
    if not same_token(cookie, token):
        raise HTTPException(403, "the sign-in cookie does not match the web token; sign in again at /login")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and "form" in request.headers.get("content-type", ""):
        sent = str((await request.form()).get(CSRF_FIELD) or "")
    if not sent or not same_token(sent, csrf_for(token)):
        raise HTTPException(403, "the form's CSRF field is missing or wrong; reload the page and try again")
    return "browser"
