from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


class CodeRelatedField(serializers.SlugRelatedField):
    """A related object named by its slug, sku or code, which is text.

    A NUL character is refused here: PostgreSQL cannot hold one, so the lookup
    would fail as a database error instead of naming the field.
    """

    default_error_messages = {"invalid": "Send the {slug_name} as text."}

    def to_internal_value(self, data):
        if not isinstance(data, str) or "\x00" in data:
            self.fail("invalid", slug_name=self.slug_field)
        return super().to_internal_value(data)


@extend_schema_field({"type": "string", "pattern": "^[A-Z]{2}$"})
class RegionCodeField(CodeRelatedField):
    """A region named by its ISO 3166-1 alpha-2 code, e.g. US."""
