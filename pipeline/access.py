"""Who may see what: athletes' personal check-in links and coaches' log-ins.

A link carries 32 random bytes (``secrets.token_urlsafe``); the store keeps only their
SHA-256, which is enough for a secret of that entropy and lets a link be looked up. Coach
passwords are hashed with argon2id (argon2-cffi), which is slow on purpose.
"""

from __future__ import annotations

import hashlib
import secrets

import pandas as pd
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from pipeline.errors import ArgumentError
from pipeline.store import Store

__all__ = ["add_user", "athlete_for_token", "issue_link_token", "revoke_links", "verify_user"]

_HASHER = PasswordHasher()
MIN_PASSWORD_CHARS = 10
LINK_DAYS = 120  # a return-to-run programme's length, about; then the coach sends a new link


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_link_token(store: Store, athlete_id: str, valid_days: int = LINK_DAYS) -> str:
    """A new secret for the athlete's check-in link, working for ``valid_days`` (the old
    link stops working).

    Raises:
        ArgumentError: ``valid_days`` is not positive.
    """
    if valid_days < 1:
        raise ArgumentError("a link works for at least one day")
    token = secrets.token_urlsafe(32)
    expires = pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=valid_days)
    store.add_web_token(athlete_id, _digest(token), expires_utc=expires)
    return token


def revoke_links(store: Store, athlete_id: str) -> int:
    return store.revoke_web_tokens(athlete_id)


def athlete_for_token(store: Store, token: str, now: pd.Timestamp | None = None) -> str | None:
    """The athlete a link token belongs to; None for an unknown, revoked, expired or odd
    token."""
    if not token or len(token) > 128:
        return None
    return store.athlete_of_token(_digest(token), now if now is not None
                                  else pd.Timestamp.now(tz="UTC"))


def add_user(store: Store, name: str, password: str) -> None:
    """Create (or reset) a coach's log-in.

    Raises:
        ArgumentError: an empty name or a password shorter than 10 characters.
    """
    if not name.strip() or len(name) > 64:
        raise ArgumentError("a user name is 1 to 64 characters")
    if len(password) < MIN_PASSWORD_CHARS:
        raise ArgumentError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    store.set_web_user(name.strip(), _HASHER.hash(password))


def verify_user(store: Store, name: str, password: str) -> bool:
    stored = store.web_user_hash(name.strip()) if name else None
    if stored is None:
        _HASHER.hash(password or "x")  # the same time whether the name exists or not
        return False
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
