"""The bundled templates, installed as the package `publisher.templates` (see pyproject.toml).

This file only makes the folder an importable package, so `importlib.resources` finds the
templates in a checkout, an editable install and a wheel alike.
"""
