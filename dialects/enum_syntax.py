"""Parsing and building of the dialects' enum attributes (StrEnum + EnumAttribute, as xDSL's tosa.py), with
errors that name the choices. Shared by dialects/qrnn.py and dialects/hlscpp.py."""

from __future__ import annotations

from typing import Any, TypeVar

from xdsl.dialects.utils import EnumAttribute
from xdsl.parser import AttrParser
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.str_enum import StrEnum

E = TypeVar("E", bound=StrEnum)
A = TypeVar("A", bound=EnumAttribute[Any])


def expected(enum_type: type[StrEnum]) -> str:
    """The choices of `enum_type`, for an error message."""
    return ", ".join(enum_type)


def parse_enum(parser: AttrParser, enum_type: type[E], what: str) -> E:
    """One identifier (or string literal) of `enum_type`, else an error that names the choices."""
    start = parser.pos
    value = parser.parse_optional_identifier_or_str_literal()
    if value is None or value not in enum_type.__members__.values():
        parser.raise_error(f"unknown {what} '{value or ''}' (expected one of {expected(enum_type)})", start, parser.pos)
    return enum_type(value)


def enum_attr(attr_type: type[A], value: str | A, what: str) -> A:
    """`value` (a member, its string, or the attribute itself) as an `attr_type`, for the op builders."""
    if isinstance(value, attr_type):
        return value
    if value not in attr_type.enum_type.__members__.values():
        raise VerifyException(f"unknown {what} '{value}' (expected one of {expected(attr_type.enum_type)})")
    return attr_type(attr_type.enum_type(value))
