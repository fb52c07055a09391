from django.contrib.auth.validators import UnicodeUsernameValidator
from rest_framework import serializers


class TokenRequestSerializer(serializers.Serializer):
    # As long as a username can be: a longer one is no login to try (and would
    # not fit the failed-login record).
    username = serializers.CharField(
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="The user's login name: letters, digits and @.+-_ only.",
    )
    password = serializers.CharField(
        style={"input_type": "password"},
        trim_whitespace=False,
        write_only=True,
        help_text="The user's password.",
    )


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(
        help_text="Send as `Authorization: Token <token>` on every request."
    )
