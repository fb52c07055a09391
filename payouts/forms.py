"""The decisions finance takes on a payout's page, and the bulk approval's
confirmation. They only check what the person saw and ticked; the services decide
what may happen."""

from django import forms

REASON_HELP = "Shown to the creator and kept in the payout's history."


class DecisionForm(forms.Form):
    """A decision on one payout, taken on the state the page showed."""

    decision = forms.CharField(widget=forms.HiddenInput)
    # The status the page showed: a decision taken on a page that is no longer
    # true (someone else decided meanwhile) is asked again, not applied.
    status_seen = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, payout, **kwargs):
        super().__init__(*args, **kwargs)
        self.payout = payout
        self.fields["decision"].initial = self.name
        self.fields["status_seen"].initial = payout.status

    name = ""

    def clean(self):
        data = super().clean()
        if data.get("status_seen") != self.payout.status:
            raise forms.ValidationError(
                "This payout changed since the page was shown: it is now "
                f"{self.payout.get_status_display().lower()}. Look again, then "
                "decide."
            )
        return data


def _flags_named(flags) -> str:
    return "; ".join(str(flag) for flag in flags)


class ApproveForm(DecisionForm):
    """Approve; a payout with risk flags needs a tick naming them."""

    name = "approve"
    risks_reviewed = forms.BooleanField(required=False)
    flags_seen = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, flags=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.flags = _flags_named(flags)
        if not flags:
            del self.fields["risks_reviewed"]
            return
        field = self.fields["risks_reviewed"]
        field.required = True
        field.label = f"I have reviewed the risk flags: {self.flags}"
        field.error_messages["required"] = (
            f"Tick to confirm you reviewed the risk flags ({self.flags}) before "
            "approving."
        )
        self.fields["flags_seen"].initial = self.flags

    def clean(self):
        data = super().clean()
        # Flags that appeared after the page was shown were not confirmed.
        if "risks_reviewed" in self.fields and data.get("flags_seen") != self.flags:
            self.add_error(
                "risks_reviewed",
                f"The risk flags changed since the page was shown; they are now: "
                f"{self.flags}. Review them, then approve.",
            )
        return data


class RejectForm(DecisionForm):
    name = "reject"
    reason = forms.CharField(
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=REASON_HELP,
        error_messages={"required": "Give the reason: the creator reads it."},
    )


class RetryForm(DecisionForm):
    name = "retry"


class ReturnForm(DecisionForm):
    name = "return"


DECISIONS = {
    form.name: form for form in (ApproveForm, RejectForm, RetryForm, ReturnForm)
}


class BulkRejectForm(forms.Form):
    """The bulk rejection's one reason for every selected payout."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), help_text=REASON_HELP
    )


class BulkApproveForm(forms.Form):
    """The bulk approval's confirmation: a tick when any payout carries flags."""

    risks_reviewed = forms.BooleanField(required=False)

    def __init__(self, *args, flagged=(), **kwargs):
        super().__init__(*args, **kwargs)
        if not flagged:
            del self.fields["risks_reviewed"]
            return
        named = "; ".join(
            f"{payout.reference} ({_flags_named(flags)})" for payout, flags in flagged
        )
        field = self.fields["risks_reviewed"]
        field.required = True
        field.label = (
            f"I have reviewed the risk flags of {len(flagged)} payout(s): {named}"
        )
        field.error_messages["required"] = (
            "Tick to confirm you reviewed the risk flags before approving."
        )
