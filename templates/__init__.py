"""The bundled templates, installed as the package `publisher.templates` (see pyproject.toml).

The folder is an importable package so that `importlib.resources` finds the templates in a
checkout, an editable install and a wheel alike.
"""

import importlib.resources

BUNDLED_TEMPLATES_PACKAGE = __name__
BUNDLED_TEMPLATES = importlib.resources.files(__name__)
