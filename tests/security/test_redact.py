"""The one redactor: what it removes (by value and by shape), and what it must leave alone.

False positives matter as much as misses: a redacted args_hash breaks the audit trail, a
redacted workflow id breaks a link, a redacted token count breaks a dashboard.
"""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest
from temporalio.exceptions import ApplicationError, CancelledError

from duragent import _redact
from duragent._redact import (
    REDACTED,
    Redactor,
    encodings,
    is_secret_name,
    secrets_from_env,
    url_secrets,
)
from duragent.approval_tokens import sign_token

SHAPES = Redactor()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "cannot reach openai at http://ops:s3cr3tpass@127.0.0.1:8100/v1: refused",
            f"cannot reach openai at http://{REDACTED}@127.0.0.1:8100/v1: refused",
        ),
        (
            "postgresql://audit:pa55word@db.internal:5432/audit",
            f"postgresql://{REDACTED}@db.internal:5432/audit",
        ),
        ("Authorization: Bearer abc123def456ghi", f"Authorization: Bearer {REDACTED}"),
        (
            "{'authorization': 'Basic dXNlcjpwYXNzd29yZA=='}",
            f"{{'authorization': 'Basic {REDACTED}'}}",
        ),
        ("sent Bearer 9f8e7d6c5b4a3210 upstream", f"sent Bearer {REDACTED} upstream"),
        (
            "Incorrect API key provided: sk-proj-AbCdEf0123456789xyzABCD.",
            f"Incorrect API key provided: {REDACTED}.",
        ),
        ("key sk-ant-api03-abcdEFGH1234ijklMNOP5678 refused", f"key {REDACTED} refused"),
        ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", REDACTED),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnop", REDACTED),
        ("aws AKIAIOSFODNN7EXAMPLE", f"aws {REDACTED}"),
        ("slack xoxb-1234567890-abcdefghij", f"slack {REDACTED}"),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6y",
            f"jwt {REDACTED}",
        ),
        (
            "GET /x?access_token=abcdef0123456789abcd&page=2",
            f"GET /x?access_token={REDACTED}&page=2",
        ),
        ('client_secret: "Zq8XcV2bN5mL1kJ7hG4f"', f'client_secret: "{REDACTED}"'),
        ('password="hunter2" user=bob', f'password="{REDACTED}" user=bob'),
        ('{"db_password": "hunter2"}', f'{{"db_password": "{REDACTED}"}}'),
        (
            '{"pem": "-----BEGIN RSA PRIVATE KEY-----\\nMIIabc\\n-----END RSA PRIVATE KEY-----"}',
            f'{{"pem": "{REDACTED}"}}',
        ),
        # Secret names keep their values out, prefixed, spaced or camel-cased.
        (
            "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            f"aws_secret_access_key={REDACTED}",
        ),
        ('{"refresh_token": "1//0gAbCdEf123456789xyz"}', f'{{"refresh_token": "{REDACTED}"}}'),
        ("accessToken=AbCd1234EfGh5678IjKl", f"accessToken={REDACTED}"),
        ("x-api-key: AbCd1234EfGh5678IjKl", f"x-api-key: {REDACTED}"),
        ("Your API key: Zq8XcV2bN5mL1kJ7hG4fAbCd", f"Your API key: {REDACTED}"),
        ("token=9f8e7d6c5b4a3210aa", f"token={REDACTED}"),
        ("gh --token=AbCd1234EfGh5678IjKl", f"gh --token={REDACTED}"),
        ("HF_TOKEN=hf_AbCdEf1234567890XyZw", f"HF_TOKEN={REDACTED}"),
        ("X-Amz-Security-Token: AbCd1234EfGh5678IjKl", f"X-Amz-Security-Token: {REDACTED}"),
        ("the access token: AbCd1234EfGh5678IjKl", f"the access token: {REDACTED}"),
        ("cli --api-key=AbCd1234EfGh5678IjKl", f"cli --api-key={REDACTED}"),
        ("webhook_secret: whsec_Zq8XcV2bN5mL1kJ7", f"webhook_secret: {REDACTED}"),
        # A password is a value after "=" or in quotes, or when it is not a plain word.
        ("password=hunter user=bob", f"password={REDACTED} user=bob"),
        ("{'password': 'correcthorse'}", f"{{'password': '{REDACTED}'}}"),
        ("password: s3cret! (rotate it)", f"password: {REDACTED} (rotate it)"),
        ("the password: Tr0ub4dor&3 is weak", f"the password: {REDACTED} is weak"),
        ("GET /login?password=abc&123&page=2", f"GET /login?password={REDACTED}&page=2"),
        # OTEL_EXPORTER_OTLP_HEADERS writes its space URL-encoded.
        (
            "headers Authorization=Bearer%20abc123def456ghi,x-tenant=acme",
            f"headers Authorization=Bearer%20{REDACTED},x-tenant=acme",
        ),
        ("sent Bearer%209f8e7d6c5b4a3210 upstream", f"sent Bearer%20{REDACTED} upstream"),
    ],
)
def test_secret_shapes_are_redacted(text: str, expected: str) -> None:
    assert SHAPES.text(text) == expected
    assert SHAPES.text(expected) == expected  # idempotent


SHA = hashlib.sha256(b"refund_order").hexdigest()


@pytest.mark.parametrize(
    "text",
    [
        "Order 1006 is shipped; refund of $150.00 approved by lee.",
        '{"input_tokens": 437, "output_tokens": 12, "max_tokens": 1024, "cached_tokens": 0}',
        "input_tokens=437 token_count=12 tokens: 99",
        f"args_hash {SHA}",
        f"spec_hash: {SHA}",
        f'{{"args_hash": "{SHA}", "spec_hash": "{SHA}"}}',
        f"sha256:{SHA}",
        str(uuid.uuid4()),
        f"key: {uuid.uuid4()}",
        "run-support-1a2b3c4d 01a241ad-7131-775f-8abc-23479f01c506",
        "trace_id 4bf92f3577b34da6a3ce929d0e0e4736 span_id 00f067aa0ba902b7",
        "postgresql://postgres@/audit?host=/tmp/pg&port=5432",
        "ssh://git@github.com/org/repo.git",
        "The authorization failed: check the key on the worker.",
        "Bearer authentication is used here.",
        "Your password must be at least 12 characters.",
        "sk-not-a-real-key-at-all",
        "the approval token is valid for 900 s",
        # Keys and cursors that are data: object names, idempotency keys, page tokens, paths.
        '{"object_key": "reports/2024/q3-summary.pdf", "next_page_token": '
        '"CiAKGjBpNDd2Nmp2Zml2cXRsYmN5"}',
        "page_token=CiAKGjBpNDd2Nmp2Zml2cXRsYmN5&cursor=CiAKGjBpNDd2Nmp2Zml2cXRsYmN5",
        "next-page-token: CiAKGjBpNDd2Nmp2Zml2cXRsYmN5",
        '{"nextPageToken": "CiAKGjBpNDd2Nmp2Zml2cXRsYmN5", "sync_token": "s_9f8e7d6c5b4a3210"}',
        "idempotency_key=order-1006-refund-20240101",
        '{"key": "INV-2024-000123-A"}',
        "primary key: customer_id_2024_Q3_extra",
        "credentials: secrets/prod-2024/gcp-sa.json",
        "private_key: keys/deploy-2024.pem",
        "Reset your password: click the link",
        sign_token("k" * 32, workflow_id="run-1", step_id="s4", approver="lee", args_hash=SHA),
    ],
)
def test_ordinary_text_hashes_and_ids_are_left_alone(text: str) -> None:
    assert SHAPES.text(text) == text


def test_known_values_are_redacted_in_their_common_encodings() -> None:
    secret = "pa$$ w/rd+42&x"
    redactor = Redactor([secret])
    for form in (secret, "pa%24%24%20w%2Frd%2B42%26x", "pa%24%24+w%2Frd%2B42%26x"):
        assert redactor.text(f"sent {form} upstream") == f"sent {REDACTED} upstream"
    quoted = json.dumps({"note": 'say "hi" ' + "tkn\\canary-1234"})
    assert "tkn" not in Redactor(["tkn\\canary-1234"]).text(quoted)


def test_short_values_are_not_known_secrets() -> None:
    assert Redactor(["abc", "test"]).text("abc test") == "abc test"


def test_quote_with_its_default_safe_slash_is_a_known_form() -> None:
    secret = "Zx9q+K7MDENG/bPxRfiCY="
    assert "Zx9q%2BK7MDENG/bPxRfiCY%3D" in encodings(secret)
    assert Redactor([secret]).text("?sig=Zx9q%2BK7MDENG/bPxRfiCY%3D&x=1") == f"?sig={REDACTED}&x=1"


WEAK_DSN = "postgresql://temporal:temporal@db.internal:5432/temporal"


def test_weak_known_values_are_not_redacted_as_words() -> None:
    """``temporal`` is the password of a DSN, and the name of the product in every message."""
    found = secrets_from_env({"TEMPORAL_DB_URL": WEAK_DSN, "PG_PASSWORD": "postgres"})
    assert {"temporal", "postgres"} <= found  # known, yet plain words
    redactor = Redactor(found)
    for text in (
        "Use temporal workflow show -w run-temporal-1a2b",
        "logger temporalio.worker: Temporal task failed",
        "connect to postgresql://db.internal/postgres",
        "port 5432 of host 12345678",
    ):
        assert redactor.text(text) == text
    assert Redactor(["12345678"]).text("port 5432 of host 12345678") == "port 5432 of host 12345678"


def test_weak_known_values_are_still_redacted_as_credentials() -> None:
    redactor = Redactor(secrets_from_env({"TEMPORAL_DB_URL": WEAK_DSN, "PG_PASSWORD": "postgres"}))
    assert redactor.text(f"cannot open {WEAK_DSN}") == (
        f"cannot open postgresql://{REDACTED}@db.internal:5432/temporal"
    )
    for text in ("password: temporal", "password=postgres", 'PGPASSWORD="postgres"'):
        assert "temporal" not in redactor.text(text) and "postgres" not in redactor.text(text)
    assert Redactor().text("password: temporal") == "password: temporal"  # unknown: prose
    # The Basic-auth form of weak credentials is long and random: redacted by value.
    basic = "dGVtcG9yYWw6dGVtcG9yYWw="
    assert redactor.text(f"sent {basic}") == f"sent {REDACTED}"


def test_strong_or_long_known_values_are_redacted_everywhere() -> None:
    redactor = Redactor(["correcthorsebatterystaple", "Temp0ral", "hunTer2x"])
    text = "a correcthorsebatterystaple b Temp0ral c hunTer2x"
    assert redactor.text(text) == f"a {REDACTED} b {REDACTED} c {REDACTED}"


def test_values_from_the_environment() -> None:
    env = {
        "OPENAI_API_KEY": "sk-abc12345678",
        "BACKEND_TOKEN": "tkn-canary-7Hq2",
        "DURAGENT_CODEC_SECRET": "c0dec-s3cret",
        "STRIPE_KEY": "rk_live_0123456789",
        "OPENAI_BASE_URL": "http://ops:s3cr3tpass@127.0.0.1:8100/v1",
        "DURAGENT_MAX_TOKENS": "1024000000",
        "HOME": "/home/worker/with/a/long/path",
        "SHORT_TOKEN": "abc",
    }
    found = secrets_from_env(env)
    assert found >= {"sk-abc12345678", "tkn-canary-7Hq2", "c0dec-s3cret", "rk_live_0123456789"}
    assert "s3cr3tpass" in found  # the password of a URL-valued variable
    assert not found & {"1024000000", "/home/worker/with/a/long/path", "abc"}


def test_pass_and_pwd_variables_and_otlp_headers_are_secret() -> None:
    env = {
        "DB_PASS": "Zx9q+K7MDENG/bPxRfiCY=",
        "SMTP_PASS": "smtp-canary-4412",
        "MYSQL_PWD": "mysql-canary-9931",
        "PWD": "/home/worker/project/one",
        "OLDPWD": "/home/worker/project/two",
        "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20otlp-canary-77Aq,x-tenant=acme",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "api-key=trace-canary-5512",
    }
    found = secrets_from_env(env)
    assert found >= {
        "Zx9q+K7MDENG/bPxRfiCY=",
        "smtp-canary-4412",
        "mysql-canary-9931",
        "otlp-canary-77Aq",
        "Bearer otlp-canary-77Aq",
        "trace-canary-5512",
    }
    assert not found & {"/home/worker/project/one", "/home/worker/project/two"}
    redactor = Redactor(found)
    for text in (
        "exporter said 401 for Bearer%20otlp-canary-77Aq",
        "raw header otlp-canary-77Aq",
        "db Zx9q%2BK7MDENG/bPxRfiCY%3D",
    ):
        assert "canary" not in redactor.text(text) and "Zx9q" not in redactor.text(text)


def test_a_dsn_written_without_its_scheme_gives_its_password() -> None:
    assert url_secrets("admin:hunter2-canary-9c4e@127.0.0.1:1/x") >= {"hunter2-canary-9c4e"}
    assert url_secrets("git@github.com:org/repo.git") == set()
    assert url_secrets("mailto bob@example.com") == set()


def test_url_secrets_include_the_basic_auth_form() -> None:
    found = url_secrets("http://ops:s3cr3tpass@127.0.0.1:8100/v1")
    assert found == {"s3cr3tpass", "b3BzOnMzY3IzdHBhc3M="}  # base64("ops:s3cr3tpass")
    assert url_secrets("postgresql://postgres@/audit") == set()
    assert url_secrets("not a url") == set()


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("api_key", True),
        ("x-api-key", True),
        ("OPENAI_API_KEY", True),
        ("authorization", True),
        ("password", True),
        ("db_password", True),
        ("secret", True),
        ("client_secret", True),
        ("token", True),
        ("access_token", True),
        ("approval_token", True),
        ("input_tokens", False),
        ("output_tokens", False),
        ("max_tokens", False),
        ("token_count", False),
        ("tokens", False),
        ("args_hash", False),
        ("key", False),
        ("secret_fields", False),
        ("next_page_token", False),
        ("page_token", False),
        ("NextPageToken", False),
        ("continuation_token", False),
    ],
)
def test_secret_key_names_are_whole_words(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


def test_values_redact_strings_by_key_name_never_numbers() -> None:
    value = {
        "input_tokens": 437,
        "usage": {"output_tokens": 12, "token": 7, "api_key": "plain-words"},
        "access_token": "abc",
        "steps": [{"approval_token": "v1.2.3", "args_hash": SHA}],
    }
    assert SHAPES.value(value) == {
        "input_tokens": 437,
        "usage": {"output_tokens": 12, "token": 7, "api_key": REDACTED},
        "access_token": REDACTED,
        "steps": [{"approval_token": REDACTED, "args_hash": SHA}],
    }


def test_errors_are_redacted_through_their_cause_chain() -> None:
    redactor = Redactor(["tkn-canary-7Hq2"])
    try:
        try:
            raise RuntimeError("refused token tkn-canary-7Hq2")
        except RuntimeError as exc:
            raise ApplicationError(
                "tool failed: tkn-canary-7Hq2",
                {"sent": "tkn-canary-7Hq2", "count": 2},
                type="tool_error",
                non_retryable=True,
            ) from exc
    except ApplicationError as exc:
        scrubbed = redactor.error(exc)
    assert isinstance(scrubbed, ApplicationError)
    assert scrubbed.message == f"tool failed: {REDACTED}"
    assert scrubbed.details == ({"sent": REDACTED, "count": 2},)
    assert scrubbed.type == "tool_error" and scrubbed.non_retryable
    cause = scrubbed.__cause__
    assert isinstance(cause, ApplicationError)
    assert cause.type == "RuntimeError" and cause.message == f"refused token {REDACTED}"
    assert scrubbed.__traceback__ is not None  # the stack trace history shows is kept


def test_temporal_cancellation_passes_through() -> None:
    cancelled = CancelledError("cancelled")
    assert SHAPES.error(cancelled) is cancelled


def test_redacted_failures_raises_the_redacted_error() -> None:
    _redact.install(_redact.current().extended(["tkn-canary-7Hq2"]))
    with pytest.raises(ApplicationError) as raised, _redact.redacted_failures():
        raise ValueError("bad token tkn-canary-7Hq2")
    assert raised.value.message == f"bad token {REDACTED}"
    assert raised.value.type == "ValueError" and not raised.value.non_retryable
    assert "tkn-canary-7Hq2" not in repr(raised.value.__cause__)


def test_an_error_with_nothing_to_redact_is_left_as_it_is() -> None:
    try:
        raise RuntimeError("bug in a provider")
    except RuntimeError as exc:
        assert SHAPES.error(exc) is exc
