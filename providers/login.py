"""How a user logs in to a provider account, from a terminal on a headless server.

A login is two steps: ``begin`` tells the user what to do (open a URL, enter a device code, fill
a form, or nothing), ``complete`` turns what they bring back into stored credentials. Pending
state (PKCE verifier, OAuth state, device code) is JSON so the daemon can persist it across a
restart; it is secret and never leaves the daemon.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from providers.errors import FieldError, ProviderError, rejected


class LoginNotApproved(ProviderError):
    """``complete`` of a login the user has not approved yet (a device code): a refusal like
    any other to a caller, and the daemon's background poll asks again later."""


@dataclass(frozen=True)
class LoginStart:
    next_step: dict[str, Any]
    pending: dict[str, Any] | None = None
    expires_at: float | None = None


@dataclass(frozen=True)
class LoginResult:
    credentials: dict[str, Any]  # secret: API keys, a token (Token.to_json())
    options: dict[str, Any] = field(default_factory=dict)  # non-secret: tenant, host, ...


@dataclass(frozen=True)
class LoginContext:
    provider_id: str
    # A provider's ProviderSettings, or the PMS's own (providers.bex.oauth.PmsOAuthSettings).
    settings: Any
    redirect_uri: str
    now: float
    options: Mapping[str, Any] = field(default_factory=dict)
    transport: httpx.AsyncBaseTransport | None = None


class LoginMethod(Protocol):
    @property
    def kind(self) -> str: ...

    async def begin(self, ctx: LoginContext) -> LoginStart: ...

    async def complete(
        self,
        ctx: LoginContext,
        pending: Mapping[str, Any] | None,
        *,
        redirect_url: str | None,
        code: str | None,
        credentials: Mapping[str, Any] | None,
    ) -> LoginResult: ...


@dataclass(frozen=True)
class Answer:
    """What the user brings back to complete a login (any of it may be absent)."""

    pending: Mapping[str, Any] | None
    redirect_url: str | None
    code: str | None
    credentials: Mapping[str, Any] | None


class Login:
    """A login method's ``complete`` written once: it hands the user's answer to ``finish``,
    which each method implements (with ``begin``)."""

    kind: str = ""

    async def begin(self, ctx: LoginContext) -> LoginStart:
        raise NotImplementedError

    async def complete(
        self,
        ctx: LoginContext,
        pending: Mapping[str, Any] | None,
        *,
        redirect_url: str | None,
        code: str | None,
        credentials: Mapping[str, Any] | None,
    ) -> LoginResult:
        return await self.finish(ctx, Answer(pending, redirect_url, code, credentials))

    async def finish(self, ctx: LoginContext, answer: Answer) -> LoginResult:
        raise NotImplementedError


class NoLogin(Login):
    """Providers with nothing to log in to (the local sandbox)."""

    kind = "none"

    async def begin(self, ctx: LoginContext) -> LoginStart:
        return LoginStart({"kind": "none", "instructions": "Nothing to log in to: activate it."})

    async def finish(self, ctx: LoginContext, answer: Answer) -> LoginResult:
        return LoginResult({})


@dataclass(frozen=True)
class CredentialField:
    name: str
    label: str
    secret: bool = False
    required: bool = True
    pattern: str | None = None  # a regex the value must match entirely
    hint: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "secret": self.secret,
                "required": self.required, "hint": self.hint}  # fmt: skip


@dataclass(frozen=True)
class CredentialsLogin(Login):
    """A form of API keys, hosts or codes; values marked secret are stored as credentials."""

    fields: tuple[CredentialField, ...]
    kind: str = "credentials"

    async def begin(self, ctx: LoginContext) -> LoginStart:
        return LoginStart(
            {
                "kind": "credentials",
                "fields": [f.as_dict() for f in self.fields],
                "instructions": "Fill in the fields, then complete the authorisation.",
            }
        )

    def validate(self, values: Mapping[str, Any] | None, provider: str) -> dict[str, str]:

        values = values or {}
        problems: list[FieldError] = []
        clean: dict[str, str] = {}
        known = {f.name for f in self.fields}
        for name in values:
            if name not in known:
                problems.append(FieldError(f"credentials.{name}", "unknown field"))
        for f in self.fields:
            raw = values.get(f.name)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                if f.required:
                    problems.append(FieldError(f"credentials.{f.name}", f"{f.label} is required"))
                continue
            if not isinstance(raw, str):
                problems.append(FieldError(f"credentials.{f.name}", "must be text"))
                continue
            value = raw.strip()
            if len(value) > 4096:
                problems.append(FieldError(f"credentials.{f.name}", "too long"))
            elif f.pattern and not re.fullmatch(f.pattern, value):
                problems.append(
                    FieldError(f"credentials.{f.name}", f.hint or f"{f.label} has the wrong form")
                )
            else:
                clean[f.name] = value
        if problems:
            raise rejected(provider, "some login fields are missing or invalid", tuple(problems))
        return clean

    async def finish(self, ctx: LoginContext, answer: Answer) -> LoginResult:
        clean = self.validate(answer.credentials, ctx.provider_id)
        secret = {f.name for f in self.fields if f.secret}
        return LoginResult(
            credentials={k: v for k, v in clean.items() if k in secret},
            options={k: v for k, v in clean.items() if k not in secret},
        )
