"""Who is acting: the user of a request, or a label for a command or a task.

The actor lives in a context variable, so it follows the request, command or task
that set it and never the next one. Nothing reaches the database here: the actor is
handed to the audit triggers just before a write they record (see `db.py`).
"""

import functools
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

LABEL_MAX = 200
FLUSH_LABEL = "command:flush"


@dataclass(frozen=True)
class Actor:
    user_id: int | None = None
    label: str = ""
    # A request's user is read when a write happens: DRF authenticates a token
    # inside the view, after every middleware has run.
    request: Any = None

    def resolve(self) -> tuple[int | None, str]:
        if self.request is None:
            return self.user_id, self.label
        user = getattr(self.request, "user", None)
        if user is not None and user.is_authenticated:
            return user.pk, self.label
        return None, self.label


_actor: ContextVar[Actor | None] = ContextVar("audit_actor", default=None)


def current_actor() -> Actor | None:
    return _actor.get()


@contextmanager
def acting_as(*, user=None, label: str = ""):
    """Record changes made inside as made by `user` and/or `label`."""
    token = _actor.set(
        Actor(user_id=user.pk if user is not None else None, label=label[:LABEL_MAX])
    )
    try:
        yield
    finally:
        _actor.reset(token)


class AuditActorMiddleware:
    """Makes the request's user (session or API token) the actor of its changes."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        label = f"{request.method} {request.path}"[:LABEL_MAX]
        token = _actor.set(Actor(label=label, request=request))
        try:
            return self.get_response(request)
        finally:
            _actor.reset(token)


# Celery: a task is the actor of what it changes, on a worker or run eagerly, on
# behalf of the user whose request or command queued it (an editor's import job).
_task_tokens: dict[str, Any] = {}
USER_HEADER = "audit_user_id"


def task_published(headers=None, **kwargs):
    """`before_task_publish`: the queuing user travels with the message."""
    actor = current_actor()
    user_id = actor.resolve()[0] if actor else None
    if headers is not None and user_id is not None:
        headers[USER_HEADER] = user_id


def task_started(task_id=None, task=None, **kwargs):
    user_id = task.request.get(USER_HEADER)
    if user_id is None and task.request.is_eager:
        # Run in place: nothing was published, the queuing actor is still here.
        actor = current_actor()
        user_id = actor.resolve()[0] if actor else None
    _task_tokens[task_id] = _actor.set(
        Actor(user_id=user_id, label=f"task:{task.name}"[:LABEL_MAX])
    )


def task_finished(task_id=None, **kwargs):
    token = _task_tokens.pop(task_id, None)
    if token is None:
        return
    try:
        _actor.reset(token)
    except ValueError:  # Finished in another context than it started.
        _actor.set(None)


def command_name(command) -> str:
    return type(command).__module__.rpartition(".")[2]


def audit_commands() -> None:
    """Label what a management command changes `command:<name>`.

    Django has no signal around a command, so `BaseCommand.execute` (which both
    `manage.py` and `call_command` go through) is wrapped once. A command run from
    inside a request, task or another command keeps that actor.
    """
    from django.core.management.base import BaseCommand

    execute = BaseCommand.execute
    if getattr(execute, "audit_wrapped", False):
        return

    @functools.wraps(execute)
    def audited_execute(self, *args, **options):
        if _actor.get() is not None:
            return execute(self, *args, **options)
        with acting_as(label=f"command:{command_name(self)}"):
            return execute(self, *args, **options)

    audited_execute.audit_wrapped = True
    BaseCommand.execute = audited_execute
