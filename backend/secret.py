"""The masked secret type: a key or master secret carried from the vault to the wire without ever showing itself."""

from __future__ import annotations

import hmac


class Secret:
    """A credential in memory; its repr and str never show any of it, and msgspec refuses to encode it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    @property
    def last4(self) -> str:
        return self._value[-4:]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(other._value.encode(), self._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('…')"  # not even the last four: a master secret travels in this type too

    __str__ = __repr__
