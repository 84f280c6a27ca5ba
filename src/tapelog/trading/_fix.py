"""FIX names and codes: the tables behind the ``trade`` object's enumerations.

Entries carry the lowercase FIX symbolic names (``partially_filled``), which people can
read; these tables turn them into the codes a FIX session sends (``"1"``) and back, and
give the tag number of every field name the ``trade`` object uses.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Final


if TYPE_CHECKING:
    from collections.abc import Mapping


__all__ = ["FIX_CODES", "FIX_NAMES", "FIX_TAGS", "fix_code", "fix_name"]


def _frozen(table: dict[str, str]) -> Mapping[str, str]:
    return MappingProxyType(table)


#: Tag number of each ``trade`` field named after a FIX field.
FIX_TAGS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "account": 1,
        "avg_px": 6,
        "cl_ord_id": 11,
        "commission": 12,
        "comm_type": 13,
        "cum_qty": 14,
        "currency": 15,
        "exec_id": 17,
        "exec_ref_id": 19,
        "last_mkt": 30,
        "last_px": 31,
        "last_qty": 32,
        "order_id": 37,
        "order_qty": 38,
        "ord_status": 39,
        "ord_type": 40,
        "orig_cl_ord_id": 41,
        "price": 44,
        "security_id": 48,
        "side": 54,
        "symbol": 55,
        "text": 58,
        "time_in_force": 59,
        "transact_time": 60,
        "cxl_qty": 84,
        "stop_px": 99,
        "cxl_rej_reason": 102,
        "ord_rej_reason": 103,
        "expire_time": 126,
        "exec_type": 150,
        "leaves_qty": 151,
        "cxl_rej_response_to": 434,
        "last_liquidity_ind": 851,
    }
)

#: For each enumerated field, name -> FIX code (codes are strings, as FIX sends them).
FIX_CODES: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        "exec_type": _frozen(
            {
                "new": "0",
                "done_for_day": "3",
                "canceled": "4",
                "replaced": "5",
                "pending_cancel": "6",
                "stopped": "7",
                "rejected": "8",
                "suspended": "9",
                "pending_new": "A",
                "calculated": "B",
                "expired": "C",
                "restated": "D",
                "pending_replace": "E",
                "trade": "F",
                "trade_correct": "G",
                "trade_cancel": "H",
                "order_status": "I",
            }
        ),
        "ord_status": _frozen(
            {
                "new": "0",
                "partially_filled": "1",
                "filled": "2",
                "done_for_day": "3",
                "canceled": "4",
                "pending_cancel": "6",
                "stopped": "7",
                "rejected": "8",
                "suspended": "9",
                "pending_new": "A",
                "calculated": "B",
                "expired": "C",
                "accepted_for_bidding": "D",
                "pending_replace": "E",
            }
        ),
        "side": _frozen(
            {
                "buy": "1",
                "sell": "2",
                "buy_minus": "3",
                "sell_plus": "4",
                "sell_short": "5",
                "sell_short_exempt": "6",
                "undisclosed": "7",
                "cross": "8",
                "cross_short": "9",
            }
        ),
        "ord_type": _frozen(
            {
                "market": "1",
                "limit": "2",
                "stop": "3",
                "stop_limit": "4",
                "previously_quoted": "D",
                "market_if_touched": "J",
                "pegged": "P",
            }
        ),
        "time_in_force": _frozen(
            {
                "day": "0",
                "good_till_cancel": "1",
                "at_the_opening": "2",
                "immediate_or_cancel": "3",
                "fill_or_kill": "4",
                "good_till_crossing": "5",
                "good_till_date": "6",
                "at_the_close": "7",
            }
        ),
        "ord_rej_reason": _frozen(
            {
                "broker_option": "0",
                "unknown_symbol": "1",
                "exchange_closed": "2",
                "order_exceeds_limit": "3",
                "too_late_to_enter": "4",
                "unknown_order": "5",
                "duplicate_order": "6",
                "duplicate_verbal": "7",
                "stale_order": "8",
                "trade_along_required": "9",
                "invalid_investor_id": "10",
                "unsupported_order_characteristic": "11",
                "surveillance_option": "12",
                "incorrect_quantity": "13",
                "incorrect_allocated_quantity": "14",
                "unknown_account": "15",
                "price_exceeds_band": "16",
                "invalid_price_increment": "18",
                "other": "99",
            }
        ),
        "cxl_rej_reason": _frozen(
            {
                "too_late_to_cancel": "0",
                "unknown_order": "1",
                "broker_option": "2",
                "already_pending": "3",
                "unable_to_process_mass_cancel": "4",
                "orig_ord_mod_time_mismatch": "5",
                "duplicate_cl_ord_id": "6",
                "other": "99",
            }
        ),
        "comm_type": _frozen({"per_unit": "1", "percentage": "2", "absolute": "3"}),
    }
)

#: For each enumerated field, FIX code -> name: the inverse of :data:`FIX_CODES`.
FIX_NAMES: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        field: _frozen({code: name for name, code in codes.items()})
        for field, codes in FIX_CODES.items()
    }
)


def fix_code(field: str, name: str) -> str:
    """The FIX code of an enumeration name: ``fix_code("side", "sell") == "2"``.

    Raises:
        KeyError: the field is not enumerated, or the name is not one of its values.
    """
    return FIX_CODES[field][name]


def fix_name(field: str, code: str | int) -> str:
    """The name of a FIX code: ``fix_name("ord_status", "1") == "partially_filled"``.

    Raises:
        KeyError: the field is not enumerated, or the code is not one of its values.
    """
    return FIX_NAMES[field][str(code)]
