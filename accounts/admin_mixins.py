from django.contrib import messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse

from core.errors import ServiceError


class ReadOnlyAdminMixin:
    """For records nobody edits by hand (ledgers, histories): view, never write."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class DecideEachMixin:
    """Admin actions that run a service on each selected row: a refusal is reported
    beside its row and the others go on; `_with_reason` first asks for one reason."""

    each_noun = "row"

    def each_name(self, obj) -> str:
        return str(obj)

    def _each(self, request, queryset, verb, call):
        done = 0
        for obj in queryset:
            try:
                call(obj)
            except ServiceError as refusal:
                self.message_user(
                    request, f"{self.each_name(obj)}: {refusal.message}", messages.ERROR
                )
            else:
                done += 1
        if done:
            self.message_user(
                request, f"{verb} {done} {self.each_noun}(s).", messages.SUCCESS
            )

    def _with_reason(self, request, queryset, *, form_class, verb, call, template):
        form = form_class(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            reason = form.cleaned_data["reason"]
            self._each(request, queryset, verb, lambda obj: call(obj, reason))
            return None
        return TemplateResponse(
            request,
            template,
            {
                **self.admin_site.each_context(request),
                "title": f"{verb.removesuffix('ed')} {self.each_noun}s",
                "opts": self.model._meta,
                "rows": queryset,
                "form": form,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            },
        )
