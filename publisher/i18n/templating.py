"""A Jinja environment taught a language: gettext (with plurals) and Babel's formats.

`speak(environment, tag, site_locale_dir)` installs `jinja2.ext.i18n` with the translations
for `tag` (new-style gettext: `{{ _("Read more") }}`, `{{ ngettext("%(num)d story",
"%(num)d stories", n) }}`, placeholders filled by keyword), the globals `language` (the tag)
and `text_direction` ("ltr" or "rtl"), and the filters `long_date`, `short_time` (in the
template's `zone`, else its `site.zone`, else the datetime's own) and `number`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from babel.support import Translations
from jinja2.runtime import Context

from publisher.i18n import formats
from publisher.i18n.catalogs import translations_for
from publisher.i18n.tags import text_direction

LANGUAGE = "language"


def speak(environment: jinja2.Environment, tag: str, site_locale_dir: Path | None) -> None:
    """Make `environment` word and format everything in `tag`, the site's catalogs first."""
    translations = translations_for(tag, site_locale_dir)
    environment.add_extension("jinja2.ext.i18n")
    environment.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    environment.extend(translations=translations)
    environment.globals[LANGUAGE] = tag
    environment.globals["text_direction"] = text_direction(tag)
    environment.filters["long_date"] = _long_date
    environment.filters["short_time"] = _short_time
    environment.filters["number"] = _number


def environment_translations(environment: jinja2.Environment) -> Translations:
    """The translations `speak` installed in `environment` (for words built in Python)."""
    translations = getattr(environment, "translations", None)
    if not isinstance(translations, Translations):
        raise TypeError("the environment speaks no language: call speak() first")
    return translations


def _language(context: Context) -> str:
    # The environment's, never a template variable that happens to be called `language`.
    return str(context.environment.globals[LANGUAGE])


def _zone(context: Context, zone: str | ZoneInfo | None) -> ZoneInfo | None:
    if isinstance(zone, ZoneInfo):
        return zone
    shown_in = ZoneInfo(zone) if zone else context.get("zone")
    if isinstance(shown_in, ZoneInfo):
        return shown_in
    # A digest's and a page's context name the site, whose zone is the publication's.
    site_zone = getattr(context.get("site"), "zone", None)
    return site_zone if isinstance(site_zone, ZoneInfo) else None


@jinja2.pass_context
def _long_date(context: Context, value: datetime, zone: str | ZoneInfo | None = None) -> str:
    try:
        return formats.long_date(
            value, str(context.environment.globals[LANGUAGE]), _zone(context, zone)
        )
    except (ValueError, ZoneInfoNotFoundError) as error:
        raise jinja2.TemplateRuntimeError(f"long_date filter: {error}") from None


@jinja2.pass_context
def _short_time(context: Context, value: datetime, zone: str | ZoneInfo | None = None) -> str:
    try:
        return formats.short_time(
            value, str(context.environment.globals[LANGUAGE]), _zone(context, zone)
        )
    except (ValueError, ZoneInfoNotFoundError) as error:
        raise jinja2.TemplateRuntimeError(f"short_time filter: {error}") from None


@jinja2.pass_context
def _number(context: Context, value: int | float | Decimal) -> str:
    return formats.number(value, _language(context))
