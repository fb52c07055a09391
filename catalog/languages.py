"""The languages gifts are written in, and which one a client's `Accept-Language`
asks for. The answer is always one of `settings.LANGUAGES`, so whatever a header
says, caches and ETags see at most that many variants."""

import unicodedata

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation.trans_real import parse_accept_lang_header
from modeltranslation.utils import build_localized_fieldname

DEFAULT = "en"
# Tags that name a supported language under another name. Traditional Chinese
# (zh-tw, zh-hk, zh-hant) is not Simplified: it falls through to the next choice.
_ALIASES = {"zh": "zh-hans", "zh-cn": "zh-hans", "zh-sg": "zh-hans"}
# Cantonese (zh-yue) is written in Traditional characters, not Simplified ones.
_NOT_PREFIX = {"zh-tw", "zh-hk", "zh-mo", "zh-hant", "zh-yue"}


def codes() -> list[str]:
    return [code for code, _ in settings.LANGUAGES]


def others() -> list[str]:
    """Every language but the default, in the settings' order."""
    return [code for code in codes() if code != DEFAULT]


def supported(tag: str) -> str | None:
    """The supported language a language tag means, or None: `de-AT` is `de`,
    `pt` is `pt-br`, `zh-Hans-CN` is `zh-hans`."""
    known = codes()
    tag = tag.lower()
    subtags = tag.split("-")
    for end in range(len(subtags), 0, -1):
        prefix = "-".join(subtags[:end])
        if prefix in _NOT_PREFIX:
            return None
        prefix = _ALIASES.get(prefix, prefix)
        if prefix in known:
            return prefix
    # A bare language for a regional one we have: `pt` or `pt-PT` reads `pt-br`.
    return next((code for code in known if code.split("-")[0] == subtags[0]), None)


def from_accept_language(header: str | None) -> str:
    """The language to answer in: the client's most preferred one we have (by
    q-value, in the header's order on a tie), else English."""
    for tag, quality in parse_accept_lang_header(header or ""):
        if tag == "*" or quality <= 0:
            continue
        language = supported(tag)
        if language is not None:
            return language
    return DEFAULT


# The gift fields written per language (catalog/translation.py registers them).
TRANSLATED = ("name", "description")


def translation_columns() -> list[str]:
    return [column(field, code) for field in TRANSLATED for code in codes()]


def column(field: str, language: str) -> str:
    """The model field holding `field` in `language` (`name_de`, `name_pt_br`)."""
    return build_localized_fieldname(field, language)


def text(instance, field: str, language: str) -> str:
    """`field` of `instance` in `language`, in English where that is empty: the
    fallback of the translated fields, read without activating a language."""
    value = getattr(instance, column(field, language))
    if not value and language != DEFAULT:
        value = getattr(instance, column(field, DEFAULT))
    return value or ""


def missing(instance) -> list[str]:
    """The languages `instance` is not fully written in: no name, or no description
    where the English one has text."""
    described = bool(getattr(instance, column("description", DEFAULT)))
    return [
        code
        for code in others()
        if not getattr(instance, column("name", code))
        or (described and not getattr(instance, column("description", code)))
    ]


def missing_filter(language: str):
    """A `Q` of the rows `missing` lists `language` for."""
    name, description = column("name", language), column("description", language)
    english_description = column("description", DEFAULT)
    return (
        Q(**{f"{name}__isnull": True})
        | Q(**{name: ""})
        | (
            ~Q(**{english_description: ""})
            & Q(**{f"{english_description}__isnull": False})
            & (Q(**{f"{description}__isnull": True}) | Q(**{description: ""}))
        )
    )


# The joiners some scripts need (Persian, Hindi, emoji sequences); every other
# control (Unicode Cc) and format character (Cf: U+202E RIGHT-TO-LEFT OVERRIDE
# that reverses what follows, U+200B ZERO WIDTH SPACE) is refused.
JOINERS = frozenset("\u200c\u200d")
# Lines a description may have; a name is one line.
_LINE_BREAKS = frozenset("\n\r\t")


def _refused(character: str, allowed: frozenset) -> bool:
    if character in allowed:
        return False
    return unicodedata.category(character) in ("Cc", "Cf")


def invisible(value: str) -> bool:
    """Nothing a reader sees: only spaces and joiners."""
    return all(character.isspace() or character in JOINERS for character in value)


def _validate_text(value: str, allowed: frozenset) -> None:
    refused = sorted({f"U+{ord(c):04X}" for c in value if _refused(c, allowed)})
    if refused:
        raise ValidationError(
            "Remove the control or invisible characters (%(characters)s): they can "
            "hide or reverse text.",
            code="control_characters",
            params={"characters": ", ".join(refused)},
        )
    if value and invisible(value):
        raise ValidationError(
            "Enter visible text, not only spaces or joiners.", code="invisible"
        )


def validate_name_text(value: str) -> None:
    """A gift's name in any language: one line, no control or format characters."""
    _validate_text(value, JOINERS | {"\u0020"})


def validate_description_text(value: str) -> None:
    """A gift's description in any language: lines, no other control characters."""
    _validate_text(value, JOINERS | _LINE_BREAKS)


TEXT_VALIDATORS = {
    "name": validate_name_text,
    "description": validate_description_text,
}
