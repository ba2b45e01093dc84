"""Domain outcomes of a provisioning request; the admin API maps them to HTTP answers."""

from __future__ import annotations


class ValidationError(ValueError):
    """A value is not acceptable (HTTP 400 naming the field)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Conflict(Exception):
    """The write contradicts what is stored (HTTP 409)."""


class Missing(Exception):
    """A resource named in the path does not exist (HTTP 404)."""
