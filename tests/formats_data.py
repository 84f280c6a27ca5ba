"""Inputs the format tests share."""

from __future__ import annotations


ENTRY = {
    "timestamp": "2026-11-23T07:01:02.123456Z",
    "level": "info",
    "logger": "trading",
    "message": "order filled",
}
"""The four required keys of a minimal entry."""

LINE_BREAKS = [
    "\n",
    "\r",
    "\r\n",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x1d",
    "\x1e",
    "\x85",
    "\u2028",
    "\u2029",
]
"""Every character (and the one pair) ``str.splitlines()`` breaks a line on."""
