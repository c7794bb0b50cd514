"""One redactor for every record: history, results, the audit log, the transcript store, span
attributes, metric labels and log lines.

Two scrubbers meant two behaviours (the log one caught what history kept), so everything that
writes a record asks this module. It removes secrets two ways, never because a key name merely
contains "token" (``input_tokens: 437`` stays readable):

- **by value**: the worker's known secrets (secret-named environment variables, approver keys,
  the password of any URL-valued setting, the header values of ``OTEL_EXPORTER_OTLP_*HEADERS``),
  and their URL-encoded, JSON-escaped and (for URL credentials) Basic-auth forms;
- **by shape**: credentials in URLs (``scheme://user:pass@host`` becomes
  ``scheme://[redacted]@host``), ``Authorization:`` and ``Bearer`` values, provider key shapes
  (``sk-``, ``sk-ant-``, ``ghp_``, ``AKIA``, ``xoxb-``: ``duragent._pii``'s ``api_key``
  detector), JWTs, private-key blocks, the value after a password word (after ``:`` only when it
  is not a plain word: ``Reset your password: click the link`` is prose) and long random values
  after a secret's name (``access_token=…``, ``client_secret: …``, ``api_key=…``; never after
  ``object_key``, ``idempotency_key``, ``next_page_token`` or a bare ``key``, and never a path).

A weak known value (shorter than ``WEAK_LEN`` and a plain word or a run of digits: the
``temporal`` of ``postgresql://temporal:temporal@…``) is not redacted by value: it would turn
``temporal workflow show`` into ``[redacted] workflow show`` and ``postgresql://`` into
``[redacted]ql://`` wherever it occurs. It is still redacted where it stands as a credential,
by shape: in a URL's user part and after a password word (``password: temporal``).

Exact secret key names (``api_key``, ``authorization``, ``password``, ``secret``, ``token``
and ``*_token``/``*_key`` names like ``access_token``, not a cursor's like ``next_page_token``)
redact their *string* values in ``Redactor.value``; numbers are never redacted.

Pure: no I/O and no environment read at import; the workflow may import it. The process-wide
redactor is built once at the edge (``duragent.workers.build_worker`` from the environment it was
started with) and installed with ``install``; activities, spans and log processors use
``current()``. Until a worker installs one, ``current()`` redacts by shape only.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

from temporalio.exceptions import ApplicationError, FailureError

from duragent._pii import TextScan

REDACTED = "[redacted]"
MIN_SECRET_LEN = 8
"""Known values shorter than this are not redacted: they would redact ordinary words."""
WEAK_LEN = 16
"""Known values shorter than this that are a plain word or digits are redacted only by shape."""

_SECRET_ENV = re.compile(r"(?:API_?KEY|_KEY|SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|_PASS|_PWD)$")
"""Environment variables whose values are secrets: ``*_API_KEY``, ``*_KEY``, ``*_SECRET``,
``*_TOKEN``, ``*_PASSWORD``, ``*_PASS``, ``*_PWD`` (``DURAGENT_MAX_TOKENS`` is not one: it ends
in TOKENS; nor is the shell's ``PWD`` or ``OLDPWD``)."""
_OTEL_HEADERS = re.compile(r"OTEL_EXPORTER_OTLP_(?:[A-Z]+_)?HEADERS")
"""OpenTelemetry's exporter headers (``Authorization=Bearer%20…,api-key=…``): every header value
is a credential, URL-encoded."""

_CURSOR = r"(?:page|next|continuation|pagination|cursor|sync|resume)[_-]?token"
"""A pagination cursor's name (``next_page_token``, ``nextPageToken``): data to send back."""

_SECRET_NAME = re.compile(
    rf"(?!.*{_CURSOR}$)"
    r"(?:.*[_-])?(?:api[_-]?key|apikey|authorization|password|passwd|passphrase|secret"
    r"|token|private[_-]?key|secret[_-]?key|access[_-]?key|client[_-]?secret)",
    re.IGNORECASE,
)
"""Key names whose string values are secrets: the whole name, or its last ``_``/``-`` part.
``access_token`` and ``approval_token`` are; ``input_tokens``, ``token_count`` and
``next_page_token`` are not."""

# --- shapes --------------------------------------------------------------------------------
_SEP = r"""["']?\s*[:=]\s*["']?"""
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,30}://)([^\s/?#@\"'<>]+)@")
_SPACE = r"(?:\s+|%20)"  # OTEL_EXPORTER_OTLP_HEADERS writes "Authorization=Bearer%20…"
_AUTH_HEADER = re.compile(
    rf"(?i)\b((?:proxy-)?authorization{_SEP})((?:bearer|basic|token|digest){_SPACE})?"
    r"(?!(?:bearer|basic|token|digest)\b)([^\s\"',;\[]{6,})"
)
_BEARER = re.compile(rf"(?i)\b(bearer{_SPACE})([A-Za-z0-9._~+/-]{{8,}}=*)")
_PASSWORD = re.compile(
    rf"(?i)\b((?:[a-z0-9]+[_-])*[a-z0-9]*(?:password|passwd|passphrase){_SEP})"  # PGPASSWORD
    # "&" ends the value only before another query parameter ("password=x&page=2").
    r"(?!null\b|none\b|\[redacted\])([^\s\"'&,;]+(?:&(?![\w.-]+=)[^\s\"'&,;]*)*)"
)
_SECRET_WORDS = (
    # Names whose value is a credential, whole (not the end of "next-page-token"), with any
    # prefix: *_api_key, *_access_key, *_secret_key, *_private_key, *_secret, *credentials and
    # any *token but a cursor's (hf_token, X-Amz-Security-Token, accessToken). Not other keys
    # (primary key, object_key, idempotency_key) nor cursors (next_page_token): their values
    # are data the model needs.
    r"(?<!\w)(?<!\w-)(?:"
    r"(?:[a-z0-9]+[_-])*(?:(?:api|access|secret|private|signing|encryption|master)[_ -]?key"
    r"|apikey|(?:client[_ -]?)?secret|credentials?)"
    r"|(?:access|refresh|id|auth|session|bearer|security) token"
    rf"|(?![\w-]*?{_CURSOR})(?:[a-z0-9]+[_-])*[a-z0-9]*token"
    r")"
)
_ASSIGNED = re.compile(rf"(?i)((?:{_SECRET_WORDS}){_SEP})([A-Za-z0-9+/_.~-]{{16,}}={{0,2}})")
_PATH = re.compile(
    r"(?:/?(?:[a-z0-9_.~-]+/)+[a-z0-9_.~-]*|.*\.[A-Za-z][A-Za-z0-9]{0,4})",
)
"""A path or file name (``reports/2024/q3-summary.pdf``), not a secret. A key with a ``/`` in it
(``wJalrXUtnFEMI/K7MDENG/bPxRfiCY``) mixes cases, so it is not one."""
_VENDOR_KEY = re.compile(r"sk-|AKIA|gh[pousr]_|xox[abposr]-")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_GITHUB_PAT = re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,}")
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[^\"']*?(?:-----END [A-Z ]*PRIVATE KEY-----|(?=[\"'])|\Z)"
)


def secret_fields(schema: Mapping[str, Any] | None) -> set[str]:
    """Argument names a tool's JSON schema marks secret (pydantic ``SecretStr`` and friends):
    their values are hidden whole wherever a call's arguments are shown."""
    properties = (schema or {}).get("properties", {})
    return {
        name
        for name, spec in properties.items()
        if isinstance(spec, dict)
        and (spec.get("writeOnly") is True or spec.get("format") == "password")
    }


def _random(value: str) -> bool:
    # Secrets are random: they mix letters and digits ("Bearer authentication" is prose).
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


def _userinfo(match: re.Match[str]) -> str:
    info = match[2]
    if ":" in info or (len(info) >= 16 and _random(info)):
        return f"{match[1]}{REDACTED}@"
    return match[0]  # a bare user name (postgres@, git@) is not a secret


_UUID = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


_Replace = Callable[[re.Match[str]], str]


def _keep_random(prefix_group: int, value_group: int) -> _Replace:
    def replace(match: re.Match[str]) -> str:
        value = match[value_group]
        if not _random(value) or _UUID.fullmatch(value):
            return match[0]
        return match.string[match.start(0) : match.end(prefix_group)] + REDACTED

    return replace


_random_value = _keep_random(1, 2)


def _assigned(match: re.Match[str]) -> str:
    if _PATH.fullmatch(match[2]):
        return match[0]
    return _random_value(match)


def _password(plain: frozenset[str]) -> _Replace:
    """The value after a password word, unless it reads as prose: a plain word after ``:``
    (``Reset your password: click the link``) is kept, unless it is a known (weak) secret.
    After ``=`` or in quotes it is a value whatever it looks like."""

    def replace(match: re.Match[str]) -> str:
        prefix, value = match[1], match[2]
        if "=" in prefix or prefix.endswith(("'", '"')) or not value.isalpha() or value in plain:
            return f"{prefix}{REDACTED}"
        return match[0]

    return replace


_SHAPES: tuple[tuple[re.Pattern[str], str | _Replace | None], ...] = (
    (_PRIVATE_KEY, REDACTED),
    (_URL_USERINFO, _userinfo),
    (_AUTH_HEADER, rf"\1\2{REDACTED}"),
    (_BEARER, _random_value),
    (_PASSWORD, None),  # the redactor's own: it knows its weak values (``_password``)
    (_ASSIGNED, _assigned),
    (_JWT, REDACTED),
    (_GITHUB_PAT, REDACTED),
)


def weak(value: str) -> bool:
    """Whether a known value is too plain to redact wherever it occurs: shorter than
    ``WEAK_LEN`` and a word (``temporal``, ``Postgres``) or digits."""
    return len(value) < WEAK_LEN and (
        value.isdigit()
        or (value.isalpha() and (value.islower() or value.isupper() or value.istitle()))
    )


def encodings(secret: str) -> set[str]:
    """The forms a secret is commonly written in: as is, URL-encoded (``quote`` with and without
    its default ``safe='/'``, ``quote_plus``), JSON-escaped."""
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
    }
    return {f for f in forms if len(f) >= MIN_SECRET_LEN}


_BARE_CREDENTIALS = re.compile(r"[\w.+-]+:[^\s/@]+@[^\s@]+")
"""``user:pass@host/db`` with no scheme (a DSN written without its ``postgresql://``)."""


def url_secrets(value: str) -> set[str]:
    """The password of a URL (and its Basic-auth form), if it carries one."""
    value = value.strip()
    if "://" not in value and _BARE_CREDENTIALS.fullmatch(value):
        value = "//" + value
    elif "://" not in value or "@" not in value:
        return set()
    try:
        parts = urlsplit(value)
    except ValueError:
        return set()
    if not parts.password:
        return set()
    user, password = unquote(parts.username or ""), unquote(parts.password)
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {password, basic}


def header_secrets(value: str) -> set[str]:
    """The values of an ``OTEL_EXPORTER_OTLP_HEADERS``-style list (``k=v,k2=v2``, URL-encoded),
    as written and decoded, and the credential after an ``Authorization`` scheme word."""
    found = {value.strip()}
    for header in value.split(","):
        _, _, written = header.partition("=")
        decoded = unquote(written.strip())
        found |= {written.strip(), decoded}
        scheme, _, credential = decoded.partition(" ")
        if credential and scheme.lower() in {"bearer", "basic", "token", "digest", "apikey"}:
            found.add(credential.strip())
    return {v for v in found if v}


def secrets_from_env(env: Mapping[str, str]) -> set[str]:
    """Secret values in an environment: secret-named variables, OTLP exporter header values,
    and URL credentials in any."""
    found: set[str] = set()
    for name, value in env.items():
        upper = name.upper()
        if _SECRET_ENV.search(upper):
            found.add(value.strip())
        if _OTEL_HEADERS.fullmatch(upper):
            found |= header_secrets(value)
        found |= url_secrets(value)
    return {v for v in found if len(v) >= MIN_SECRET_LEN}


class Redactor:
    """Removes known secret values and secret-shaped text.

    ``Redactor(values=...)`` knows the given values (shorter than ``MIN_SECRET_LEN`` ignored;
    ``weak`` ones only in credential positions); ``shapes=False`` removes only them. Immutable:
    ``extended`` returns a new one.
    """

    __slots__ = ("_known", "_shapes", "_values", "_values_re", "shapes")

    def __init__(self, values: Iterable[str] = (), *, shapes: bool = True) -> None:
        self._known = frozenset(
            v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LEN
        )
        plain = frozenset(v for v in self._known if weak(v))
        forms = {form for value in self._known - plain for form in encodings(value)}
        self._values = frozenset(forms)
        self._shapes = tuple(
            (pattern, _password(plain) if replacement is None else replacement)
            for pattern, replacement in _SHAPES
        )
        ordered = sorted(forms, key=len, reverse=True)  # longest first: no partial leftovers
        self._values_re = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self.shapes = shapes

    @property
    def values(self) -> frozenset[str]:
        """Every form of every known secret redacted wherever it occurs (not the weak ones)."""
        return self._values

    def extended(self, values: Iterable[str]) -> Redactor:
        """This redactor knowing ``values`` too."""
        return Redactor([*self._known, *values], shapes=self.shapes)

    def text(self, text: str) -> str:
        """``text`` with every known secret and secret-shaped part replaced by ``[redacted]``.

        Idempotent: redacting twice changes nothing more."""
        if not text:
            return text
        if self._values_re is not None:
            text = self._values_re.sub(REDACTED, text)
        if not self.shapes:
            return text
        for pattern, replacement in self._shapes:
            text = pattern.sub(replacement, text)
        # Only the vendor shapes of the PII scanner's keys: what follows a key or token word is
        # this module's to decide (_ASSIGNED), and it has decided ("primary key: …" is data).
        spans = TextScan(text, numbers=False).spans("api_key")
        if spans:
            pieces, position = [], 0
            for start, end in spans:
                if (
                    start >= position
                    and _VENDOR_KEY.match(text, start)
                    and not _UUID.fullmatch(text, start, end)
                ):
                    pieces += [text[position:start], REDACTED]
                    position = end
            text = "".join(pieces) + text[position:]
        return text

    def value(self, value: Any) -> Any:
        """A JSON-like value with every string redacted; a string under a secret key name
        (``api_key``, ``access_token``) is replaced whole. Numbers are left alone."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {k: self._item(k, v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value

    def _item(self, key: Any, value: Any) -> Any:
        if isinstance(value, str) and value and is_secret_name(key):
            return REDACTED
        return self.value(value)

    def error(self, exc: BaseException, *, depth: int = 0) -> BaseException:
        """An exception fit for history: an ``ApplicationError`` with its message, details and
        cause chain redacted, keeping type, retry semantics and traceback.

        Temporal records a failure's cause chain too (each cause's message), so redacting the
        outer message alone would not do. A bare exception becomes the ``ApplicationError`` the
        SDK would have made of it (type = class name, retryable). An exception with nothing to
        redact, and Temporal's own failures (cancellation), are returned as they are.
        """
        if depth == 0 and not self._holds_secret(exc):
            return exc
        if isinstance(exc, FailureError) and not isinstance(exc, ApplicationError):
            return exc
        if isinstance(exc, ApplicationError):
            scrubbed = ApplicationError(
                self.text(exc.message),
                *(self.value(d) for d in exc.details),
                type=exc.type,
                non_retryable=exc.non_retryable,
                next_retry_delay=exc.next_retry_delay,
                category=exc.category,
            )
        else:
            scrubbed = ApplicationError(self.text(str(exc)), type=type(exc).__name__)
        cause = _cause(exc)
        scrubbed.__cause__ = self.error(cause, depth=depth + 1) if cause and depth < 8 else None
        scrubbed.__suppress_context__ = True
        return scrubbed.with_traceback(exc.__traceback__)

    def _holds_secret(self, exc: BaseException | None, depth: int = 0) -> bool:
        """Whether redaction would change the exception's message, details or causes."""
        if exc is None or depth >= 8:
            return False
        if isinstance(exc, FailureError) and not isinstance(exc, ApplicationError):
            return False
        text = exc.message if isinstance(exc, ApplicationError) else str(exc)
        if self.text(text) != text:
            return True
        if isinstance(exc, ApplicationError) and any(self.value(d) != d for d in exc.details):
            return True
        return self._holds_secret(_cause(exc), depth + 1)


def _cause(exc: BaseException) -> BaseException | None:
    """The cause Temporal records: ``__cause__``, else an unsuppressed ``__context__``."""
    if exc.__cause__ is not None:
        return exc.__cause__
    return None if exc.__suppress_context__ else exc.__context__


def is_secret_name(key: Any) -> bool:
    """Whether a key names a secret as a whole word (``access_token``, not ``input_tokens``)."""
    return isinstance(key, str) and _SECRET_NAME.fullmatch(key) is not None


_installed = Redactor()


def install(redactor: Redactor) -> None:
    """Make ``redactor`` the process's: the worker calls this once at start, with the values
    of its environment and configuration (``duragent.workers.build_worker``)."""
    global _installed
    _installed = redactor


def current() -> Redactor:
    """The process's redactor (shape rules only until a worker installs one)."""
    return _installed


def redact(text: str) -> str:
    """``current().text(text)``."""
    return _installed.text(text)


@contextmanager
def redacted_failures() -> Iterator[None]:
    """Around an activity's body: whatever fails out of it leaves redacted (``Redactor.error``).

    The failure is what Temporal records in history and what the workflow shows the model."""
    try:
        yield
    except Exception as exc:
        scrubbed = _installed.error(exc)
        if scrubbed is exc:
            raise
        raise scrubbed from scrubbed.__cause__
