"""Gift fields a viewer reads, per language (django-modeltranslation): a column per
language beside the field (`name_de`, `description_ja`), English the fallback.
The field itself (`name`) reads the active language's column, English when empty."""

from modeltranslation.translator import TranslationOptions, register

from .languages import TRANSLATED
from .models import Gift


@register(Gift)
class GiftTranslationOptions(TranslationOptions):
    fields = TRANSLATED
    required_languages = {"en": ("name",), "default": ()}
