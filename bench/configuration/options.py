"""Validated options for models and tokenizers (pydantic, unknown fields rejected)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from bench.errors import BenchError, unknown_name_error


class Options(BaseModel):
    """Base class of every plugin's options: typed, documented, extra fields forbidden.

    Give each field a default and a ``Field(description=...)``: ``bench models`` shows them.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    def check_device(self, device: str) -> None:
        """Reject options the resolved device cannot run (raise BenchError); checked before
        a run is recorded. The default accepts every device."""


def parse_assignments(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Turn ``["a=1", "b=x"]`` into ``{"a": "1", "b": "x"}``; pydantic converts the strings."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BenchError(f"--set expects key=value, got {pair!r}")
        result[key.strip()] = value.strip()
    return result


def validate_options(options_class: type[Options], values: dict[str, Any], owner: str) -> Options:
    """Build ``options_class`` from ``values`` with errors a user can act on."""
    known = options_class.model_fields
    for key in values:
        if key not in known:
            raise unknown_name_error(f"option for {owner}", key, known)
    try:
        return options_class(**values)
    except ValidationError as error:
        problems = "; ".join(_problem(e) for e in error.errors())
        raise BenchError(f"invalid option for {owner}: {problems}") from None


def _problem(error: Any) -> str:
    """One pydantic error as "key: message (got value)"; a rule across several options (a
    model validator, no key) as its own message."""
    message = error["msg"].removeprefix("Value error, ")
    if not error["loc"]:
        return message
    return f"{'.'.join(str(p) for p in error['loc'])}: {message} (got {error.get('input')!r})"


def describe_options(options_class: type[Options]) -> list[dict[str, str]]:
    """Name, type, default and description of every option, for listings and docs."""
    rows = []
    for name, field in options_class.model_fields.items():
        annotation = field.annotation
        type_name = getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")
        rows.append(
            {
                "name": name,
                "type": type_name,
                "default": repr(field.get_default(call_default_factory=True)),
                "description": field.description or "",
            }
        )
    return rows
