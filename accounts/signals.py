from django.db import transaction
from django.db.models.signals import post_delete, post_save
from rest_framework.authtoken.models import Token, TokenProxy

from .authentication import tokens
from .models import User

# Other processes keep their entries until they expire: TOKEN_CACHE_SECONDS at most.


def forget_token(instance, using, **kwargs) -> None:
    key = instance.key  # a deleted instance loses it before the commit
    tokens.forget_key(key)
    # Again at commit: a lookup in another thread between this change and its
    # commit still reads the old row and may have kept it.
    transaction.on_commit(lambda: tokens.forget_key(key), using=using)


def forget_user(instance, using, **kwargs) -> None:
    user_id = instance.pk
    tokens.forget_user(user_id)
    transaction.on_commit(lambda: tokens.forget_user(user_id), using=using)


def connect() -> None:
    # The admin edits tokens through DRF's TokenProxy, which sends its own signals.
    for model in (Token, TokenProxy):
        post_save.connect(forget_token, sender=model)
        post_delete.connect(forget_token, sender=model)
    post_save.connect(forget_user, sender=User)
    post_delete.connect(forget_user, sender=User)
