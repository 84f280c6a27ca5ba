"""Checking and converting the values a trade event carries: decimals, ids, enums, times.

Every check raises :class:`OrderValidationError` naming the parameter, the rule it broke
and the value given; the trade logger turns that into one ``order.validation_failed``
entry before re-raising it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Final

from tapelog.trading._fix import FIX_CODES, FIX_NAMES


__all__ = [
    "OrderValidationError",
    "currency_of",
    "decimal_of",
    "enum_of",
    "text_of",
    "time_of",
]

_TIME: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z")
_CURRENCY: Final = re.compile(r"[A-Z]{3}")
#: The last whole second formatted (most calls share it), in a list so it can be replaced.
_SECOND: Final[list[tuple[int, str]]] = [(-1, "")]


class OrderValidationError(ValueError):
    """A trade event's parameter broke a rule; nothing about the order was changed.

    Attributes:
        param: the parameter's name (``order_qty``).
        rule: what it must be (``greater than 0``).
        value: the value given.
    """

    def __init__(self, param: str, rule: str, value: object) -> None:
        self.param = param
        self.rule = rule
        self.value = value
        super().__init__(f"{param} must be {rule}, got {value!r}")


def decimal_of(
    param: str, value: object, *, allow_float: bool, positive: bool, negative_ok: bool = False
) -> tuple[Decimal, bool]:
    """``value`` as a finite ``Decimal``, and whether it came from a float (lossy).

    Args:
        param: the parameter's name, for the error.
        value: a ``Decimal``, an ``int``, a ``str`` holding a decimal number, or (when
            ``allow_float``) a ``float``.
        allow_float: accept floats, converted through their shortest ``repr``.
        positive: the value must be greater than 0 (else at least 0).
        negative_ok: any sign is fine (prices where FIX allows negatives).

    Raises:
        OrderValidationError: not a number, not finite, a float not allowed, or the sign.
    """
    lossy = False
    if type(value) is Decimal or isinstance(value, Decimal):  # the exact type: the common case
        number = value
    elif isinstance(value, bool):
        raise OrderValidationError(param, "a Decimal, int or str", value)
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise OrderValidationError(param, "a decimal number", value) from None
    elif isinstance(value, float):
        if not allow_float:
            raise OrderValidationError(
                param, "a Decimal, int or str (floats are refused unless allow_float)", value
            )
        number = Decimal(repr(value))
        lossy = True
    else:
        raise OrderValidationError(param, "a Decimal, int or str", value)
    if not number.is_finite():
        raise OrderValidationError(param, "finite (not NaN or infinity)", value)
    if negative_ok:
        return number, lossy
    if positive:
        if number <= 0:
            raise OrderValidationError(param, "greater than 0", value)
        return number, lossy  # above 0: never "-0"
    if number < 0:
        raise OrderValidationError(param, "at least 0", value)
    if number.is_zero() and number.is_signed():
        number = abs(number)  # "-0" would not read as a quantity
    return number, lossy


def text_of(param: str, value: object) -> str:
    """A non-empty string (an id, a symbol, a reason).

    Raises:
        OrderValidationError: not a string, or empty.
    """
    if not isinstance(value, str) or not value:
        raise OrderValidationError(param, "a non-empty string", value)
    return value


def enum_of(field: str, value: object) -> str:
    """The lowercase FIX name of an enumeration value given as a name or a FIX code.

    Raises:
        OrderValidationError: not one of the field's names or codes.
    """
    codes = FIX_CODES[field]
    if isinstance(value, str):
        if value in codes:
            return value
        lowered = value.lower()
        if lowered in codes:
            return lowered
        name = FIX_NAMES[field].get(value)
        if name is not None:
            return name
    elif isinstance(value, int) and not isinstance(value, bool):
        name = FIX_NAMES[field].get(str(value))
        if name is not None:
            return name
    rule = "one of " + ", ".join(codes) + " (or its FIX code)"
    raise OrderValidationError(field, rule, value)


def currency_of(value: object) -> str:
    """An ISO 4217 code: three upper-case letters.

    Raises:
        OrderValidationError: anything else.
    """
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise OrderValidationError("currency", "three upper-case letters (ISO 4217)", value)
    return value


def time_of(param: str, value: object, now_ns: int) -> str:
    """An RFC 3339 UTC time with up to nine fractional digits, keeping the source's precision.

    Args:
        param: the parameter's name, for the error.
        value: ``None`` (now: nanoseconds from ``now_ns``), an ``int`` of nanoseconds
            since the epoch (nine digits), a timezone-aware ``datetime`` (six digits), or
            a string already in that form (kept as given).
        now_ns: the call's time, used when ``value`` is None.

    Raises:
        OrderValidationError: a naive datetime, a string in another form, another type.
    """
    if value is None:
        value = now_ns
    if isinstance(value, int) and not isinstance(value, bool):
        seconds, nanos = divmod(value, 1_000_000_000)
        cached, stamp = _SECOND[0]
        if cached != seconds:
            try:
                stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            except (OverflowError, OSError, ValueError):
                raise OrderValidationError(
                    param, "nanoseconds since 1970 in range", value
                ) from None
            _SECOND[0] = (seconds, stamp)
        return f"{stamp}.{nanos:09d}Z"
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise OrderValidationError(param, "a timezone-aware datetime", value)
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, str) and _TIME.fullmatch(value):
        return value
    raise OrderValidationError(
        param, "nanoseconds since the epoch, an aware datetime or RFC 3339 UTC text", value
    )
