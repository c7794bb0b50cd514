"""``@tool``: a typed Python function becomes a tool a model can call.

The JSON schema of the arguments comes from the type hints (through pydantic), the description
from the docstring. A parameter annotated ``ToolContext`` is not part of the schema: it receives
the call's context, whose ``idempotency_key`` (workflow id + step id) is stable across retries
and worker restarts, so a tool with side effects can make them exactly once.
"""

from __future__ import annotations

import asyncio
import decimal
import enum
import inspect
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_type_hints, overload

import pydantic_core
from pydantic import BaseModel, ConfigDict, SecretBytes, SecretStr, ValidationError, create_model
from pydantic.json_schema import GenerateJsonSchema, NoDefault, PydanticJsonSchemaWarning
from pydantic_core import core_schema

from duragent._coerce import short_repr, strict_number
from duragent._messages import ToolSpec
from duragent._vocab import RiskLevel
from duragent.errors import SpecError

Execution = Literal["auto", "activity", "local"]

LOCAL_TIMEOUT_LIMIT_S = 10.0
DEFAULT_ATTEMPTS = 3
"""``execution="auto"`` runs read-only tools with at most this timeout as local activities."""


@dataclass(frozen=True)
class ToolContext:
    """What a tool knows about the call it serves."""

    run_id: str
    workflow_id: str
    step_id: str
    agent: str
    tenant: str | None = None
    user: str | None = None
    heartbeat: Callable[..., None] = field(default=lambda *details: None, repr=False)
    """Report progress; on a regular activity this is Temporal's heartbeat."""

    @property
    def idempotency_key(self) -> str:
        """Stable across retries and recoveries of this step: use it to make side effects once."""
        return f"{self.workflow_id}/{self.step_id}"


class ToolArgumentsError(ValueError):
    """The model called a tool with arguments that do not fit its schema."""


@dataclass(frozen=True)
class Tool:
    """A registered tool. Build with ``@tool``."""

    name: str
    description: str
    fn: Callable[..., Any]
    arguments_model: type[BaseModel]
    context_param: str | None
    risk: RiskLevel
    idempotent: bool
    sandboxed: bool
    timeout_s: float
    execution: Execution
    retries: int | None = None
    reconcile_fn: Callable[..., Any] | None = field(default=None, repr=False)

    def reconcile(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Register the hook asked, before a retry, whether the call already happened.

        ``@refund_order.reconcile`` on a function taking the same arguments (and the
        ``ToolContext``): return the earlier call's result if it took effect, ``None`` if not.
        With it, a non-idempotent tool may be retried: a retry first asks the hook.
        """
        object.__setattr__(self, "reconcile_fn", fn)  # set once, at import, before any worker runs
        return fn

    @property
    def max_attempts(self) -> int:
        """Attempts Temporal may make: a tool that cannot be retried safely gets exactly one."""
        if not self.idempotent and self.reconcile_fn is None:
            return 1
        return self.retries if self.retries is not None else DEFAULT_ATTEMPTS

    @property
    def spec(self) -> ToolSpec:
        with warnings.catch_warnings():
            # A factory default JSON cannot hold is left out of the schema (pydantic warns);
            # parse_arguments then asks the model to send that field.
            warnings.simplefilter("ignore", PydanticJsonSchemaWarning)
            schema = self.arguments_model.model_json_schema(schema_generator=_WithFactoryDefaults)
        schema.pop("title", None)
        execution = self.execution
        if execution == "auto":
            short_read = self.risk == "read" and self.timeout_s <= LOCAL_TIMEOUT_LIMIT_S
            execution = "local" if short_read and not self.sandboxed else "activity"
        return ToolSpec(
            name=self.name,
            description=self.description,
            parameters=schema,
            risk=self.risk,
            idempotent=self.idempotent,
            sandboxed=self.sandboxed,
            timeout_s=self.timeout_s,
            execution=execution,
            max_attempts=self.max_attempts,
            reconcilable=self.reconcile_fn is not None,
        )

    async def reconciled(self, context: ToolContext, arguments: dict[str, Any]) -> Any:
        """The reconcile hook's answer: the earlier call's result, or ``None`` if it did not happen."""
        assert self.reconcile_fn is not None
        return await self._call(self.reconcile_fn, context, arguments)

    def parse_arguments(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Validate a model's arguments; raise ``ToolArgumentsError`` saying what is wrong."""
        try:
            parsed = self.arguments_model.model_validate(arguments)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ToolArgumentsError(
                f"invalid arguments for tool {self.name!r}: {problems}"
            ) from None
        fields = type(parsed).model_fields
        values = {name: getattr(parsed, name) for name in fields}
        # One value: the tool runs only on what the rules saw. A value its validation read
        # differently from the argument as sent ("1_50" read as 150, a validator that rewrote
        # it) is refused, never run; so is a value computed by a default factory that the
        # arguments (which carry every default the schema can state) do not hold.
        for name, value in values.items():
            key = fields[name].alias or name
            if key not in arguments:
                if fields[name].default_factory is not None:
                    raise ToolArgumentsError(
                        f"invalid arguments for tool {self.name!r}: {key}: missing; its default "
                        "is computed when the tool runs, where no rule sees it: send it"
                    )
                continue
            if not agrees(value, arguments[key]):
                raise ToolArgumentsError(
                    f"invalid arguments for tool {self.name!r}: {key}: "
                    f"{short_repr(arguments[key])} would be read as {short_repr(_jsonable(value))}; "
                    "send exactly that value"
                )
        return values

    async def invoke(self, context: ToolContext, arguments: dict[str, Any]) -> Any:
        """Run the tool (sync functions in a thread) and return what it returned."""
        return await self._call(self.fn, context, arguments)

    async def _call(
        self, fn: Callable[..., Any], context: ToolContext, arguments: dict[str, Any]
    ) -> Any:
        # The tool and its reconcile hook take the same validated arguments and context.
        kwargs = self.parse_arguments(arguments)
        if self.context_param is not None:
            kwargs[self.context_param] = context
        if inspect.iscoroutinefunction(fn):
            return await fn(**kwargs)
        return await asyncio.to_thread(fn, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function directly, as if undecorated (handy in tests)."""
        return self.fn(*args, **kwargs)


class _WithFactoryDefaults(GenerateJsonSchema):
    """Schemas that state ``default_factory`` defaults too, so the workflow fills them in and
    rules see what the tool will use (pydantic leaves them out)."""

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            try:
                return factory()  # type: ignore[call-arg]
            except Exception:
                return NoDefault
        return super().get_default_value(schema)


def agrees(parsed: Any, sent: Any, depth: int = 0) -> bool:
    """Whether a validated value is the value sent, as a rule reading the JSON saw it.

    Numbers compare by value (150 and 150.0 and a Decimal 150 agree; the string "1_50" does not
    agree with 150), strings exactly, secrets by their value, models field by field.
    """
    if depth > 64:
        return False
    if isinstance(parsed, SecretStr | SecretBytes):
        return bool(parsed.get_secret_value() == sent)
    if isinstance(parsed, enum.Enum):
        return agrees(parsed.value, sent, depth + 1)
    if isinstance(parsed, bool) or isinstance(sent, bool):
        return isinstance(parsed, bool) and isinstance(sent, bool) and parsed == sent
    if parsed is None or sent is None:
        return parsed is None and sent is None
    if isinstance(parsed, int | float | decimal.Decimal):
        return _number_agrees(parsed, sent)
    if isinstance(parsed, str):
        return isinstance(sent, str) and parsed == sent
    if isinstance(parsed, BaseModel):
        if not isinstance(sent, dict):
            return False
        fields = type(parsed).model_fields
        keys = {name: info.alias or name for name, info in fields.items()}
        for name, info in fields.items():
            if keys[name] not in sent:
                if info.default_factory is not None:
                    return False  # a computed default no rule saw
                continue
            if not agrees(getattr(parsed, name), sent[keys[name]], depth + 1):
                return False
        return set(sent) <= set(keys.values())
    if isinstance(parsed, dict):
        return (
            isinstance(sent, dict)
            and len(parsed) == len(sent)
            and all(k in sent and agrees(v, sent[k], depth + 1) for k, v in parsed.items())
        )
    if isinstance(parsed, list | tuple):
        return (
            isinstance(sent, list | tuple)
            and len(parsed) == len(sent)
            and all(agrees(p, s, depth + 1) for p, s in zip(parsed, sent, strict=True))
        )
    # Dates, UUIDs, sets, ...: the JSON form pydantic writes must be what was sent.
    try:
        return bool(_jsonable(parsed) == sent)
    except Exception:
        return False


def _number_agrees(parsed: int | float | decimal.Decimal, sent: Any) -> bool:
    if isinstance(sent, str):
        number = strict_number(sent)
        if number is None:
            return False
        sent = number
    if not isinstance(sent, int | float) or isinstance(sent, bool):
        return False
    try:
        left = decimal.Decimal(parsed) if isinstance(parsed, int) else decimal.Decimal(str(parsed))
        right = decimal.Decimal(sent) if isinstance(sent, int) else decimal.Decimal(repr(sent))
        return left.is_finite() and right.is_finite() and left == right
    except (decimal.InvalidOperation, ValueError):
        return False


def _jsonable(value: Any) -> Any:
    try:
        return pydantic_core.to_jsonable_python(value)
    except Exception:
        return repr(value)


def to_model_text(value: Any) -> str:
    """A tool's return value as the text a model sees: strings as-is, everything else JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return pydantic_core.to_json(value).decode()


_TOOL_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_-]{0,63}$")


def _build(
    fn: Callable[..., Any],
    *,
    name: str | None,
    description: str | None,
    risk: RiskLevel,
    idempotent: bool | None,
    sandboxed: bool,
    timeout: float,
    execution: Execution,
    retries: int | None = None,
) -> Tool:
    tool_name = name or fn.__name__
    where = f"tool {tool_name!r} ({fn.__module__}.{fn.__qualname__})"
    if not _TOOL_NAME.match(tool_name):
        raise SpecError(
            "a tool name must start with a letter and use only letters, digits, _ and - "
            "(at most 64 characters)",
            field=where,
        )
    if timeout <= 0:
        raise SpecError("timeout must be a positive number of seconds", field=where)
    if retries is not None and not 1 <= retries <= 100:
        raise SpecError("retries is the number of attempts: 1 to 100", field=where)
    if sandboxed and execution == "local":
        raise SpecError(
            "a sandboxed tool runs on the sandbox workers' task queue, never as a local "
            "activity; drop execution='local'",
            field=where,
        )
    hints = get_type_hints(fn, include_extras=True)
    fields: dict[str, Any] = {}
    context_param: str | None = None
    for param in inspect.signature(fn).parameters.values():
        annotation = hints.get(param.name, inspect.Parameter.empty)
        if annotation is ToolContext:
            context_param = param.name
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise SpecError("tools take named parameters only, not *args or **kwargs", field=where)
        if annotation is inspect.Parameter.empty:
            raise SpecError(
                f"parameter {param.name!r} has no type hint; the model needs one to call the tool",
                field=where,
            )
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, default)
    arguments_model = create_model(
        f"{tool_name}_arguments", __config__=ConfigDict(extra="forbid"), **fields
    )
    doc = inspect.getdoc(fn) or ""
    return Tool(
        name=tool_name,
        description=description if description is not None else doc,
        fn=fn,
        arguments_model=arguments_model,
        context_param=context_param,
        risk=risk,
        idempotent=(risk == "read") if idempotent is None else idempotent,
        sandboxed=sandboxed,
        timeout_s=float(timeout),
        execution=execution,
        retries=retries,
    )


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    risk: RiskLevel = "read",
    idempotent: bool | None = None,
    sandboxed: bool = False,
    timeout: float = 30.0,
    execution: Execution = "auto",
    retries: int | None = None,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    risk: RiskLevel = "read",
    idempotent: bool | None = None,
    sandboxed: bool = False,
    timeout: float = 30.0,
    execution: Execution = "auto",
    retries: int | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a typed function a tool: ``@tool`` or ``@tool(risk="write", timeout=10)``.

    ``risk`` is read, write, destructive or external; ``idempotent`` defaults to True only for
    read tools; ``retries`` is the number of attempts (default 3) for a tool that can be retried
    safely: an idempotent one, or one with a ``reconcile`` hook; any other gets exactly one
    attempt, never a blind retry. ``execution="auto"`` runs short read-only tools as local
    activities and everything else as regular activities.
    """

    def decorate(f: Callable[..., Any]) -> Tool:
        return _build(
            f,
            name=name,
            description=description,
            risk=risk,
            idempotent=idempotent,
            sandboxed=sandboxed,
            timeout=timeout,
            execution=execution,
            retries=retries,
        )

    return decorate(fn) if fn is not None else decorate
