from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate, pre_migrate


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit"

    def ready(self):
        from celery.signals import before_task_publish, task_postrun, task_prerun

        from . import context, db

        connection_created.connect(db.prepare_connection, dispatch_uid="audit-actor")
        pre_migrate.connect(_before_migrate, sender=self, dispatch_uid="audit-pre")
        post_migrate.connect(_after_migrate, sender=self, dispatch_uid="audit-post")
        before_task_publish.connect(
            context.task_published, dispatch_uid="audit-task-publish"
        )
        task_prerun.connect(context.task_started, dispatch_uid="audit-task-start")
        task_postrun.connect(context.task_finished, dispatch_uid="audit-task-end")
        context.audit_commands()


def _before_migrate(using="default", **kwargs):
    from django.db import connections

    from . import db

    # SQLite refuses to drop a column that a trigger names; they come back after.
    if connections[using].vendor == "sqlite":
        db.uninstall(using)


def _after_migrate(using="default", **kwargs):
    from . import db

    db.install(using)
