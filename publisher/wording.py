"""How counts read in messages: "1 article", "2 articles"."""

from __future__ import annotations


def count(number: int, noun: str, plural: str | None = None) -> str:
    """`number` with `noun` in the right number (`plural`, default `noun` + "s")."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"
