"""Typed errors of accounts, the labelling queue and labels; each message is one actionable line."""

from __future__ import annotations

from curation.errors import NotFound, PrefstudioError


class AccountError(PrefstudioError):
    """An account cannot be created or changed as asked (bad name, role or password)."""


class AccountNotFound(AccountError, NotFound):
    """No account has the name asked for."""


class LabelError(PrefstudioError):
    """A label, rating, ranking or edit is not valid for this pair and annotator."""
