import copy

from django import forms
from django.core.exceptions import ValidationError
from django.forms.models import BaseModelFormSet, construct_instance
from django.utils import timezone

from core import display

from . import selectors
from .models import CreatorLevel, EarningsHold, EligibilityRule, GifterLevel
from .services.applications import eligibility_rule_errors
from .services.gifter_levels import gifter_level_errors
from .services.holds import earnings_hold_errors

SHARE_APPLIES = (
    "Applies to gifts sent from the moment it is saved; a gift already sent keeps "
    "the share it stamped."
)


class LevelShareForm(forms.ModelForm):
    """Any form that edits a level's share, on its page or in the list: its history
    record says the share's move, also where no earlier record holds the old one."""

    def clean(self):
        cleaned = super().clean()
        before, after = self.initial.get("share_percent"), cleaned.get("share_percent")
        if "share_percent" in self.changed_data and None not in (before, after):
            self.instance._change_reason = (
                f"Share {display.number(before)}% → {display.number(after)}%"
            )
        return cleaned


class CreatorLevelForm(LevelShareForm):
    """A level's page: a share that would make a higher level pay less than a lower
    one is saved only once confirmed, and its history says it was."""

    confirm_share_order = forms.BooleanField(
        required=False,
        label="Save although a higher level pays less",
        help_text="Asked only when a higher level would pay a lower share than the "
        "level below it.",
    )

    class Meta:
        model = CreatorLevel
        fields = ("number", "name", "min_diamonds_30d", "share_percent")
        help_texts = {
            "share_percent": "Percent of a gift's coin value the creator receives "
            f"as diamonds. {SHARE_APPLIES}"
        }

    def clean(self):
        cleaned = super().clean()
        if self.errors or not {"number", "share_percent"} & set(self.changed_data):
            return cleaned
        # The instance takes the form's values only after clean(): try them on a copy.
        level = construct_instance(self, copy.copy(self.instance))
        warnings = selectors.level_shares_out_of_order(changed=[level])
        if warnings and not cleaned.get("confirm_share_order"):
            self.add_error(
                "confirm_share_order",
                [*warnings, "Tick the box to save it anyway, or change the share."],
            )
        elif warnings:
            moved = getattr(self.instance, "_change_reason", "")
            self.instance._change_reason = f"{moved}, confirmed: {' '.join(warnings)}"
        return cleaned


class CreatorLevelListFormSet(BaseModelFormSet):
    """The level list's shares: one that would put the levels out of order is
    refused here, where nothing asks to confirm; the level's page asks."""

    def clean(self):
        super().clean()
        changed = [
            form.instance
            for form in self.forms
            if form.has_changed() and not form.errors
        ]
        if warnings := selectors.level_shares_out_of_order(changed=changed):
            raise ValidationError(
                [
                    *warnings,
                    "Change it on the level's page, which asks you to confirm.",
                ]
            )


class RegionRuleForm(forms.ModelForm):
    """A new region rule (an earnings hold, an eligibility rule): effective from
    now when left empty, with the service's own checks shown beside their fields."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A saved rule's page shows it read-only: the form then has no fields.
        if "effective_from" in self.fields:
            self.fields["effective_from"].required = False
        if "region" in self.fields:
            self.fields["region"].empty_label = "All regions without their own rule"
        # The moment the form was checked: the service checks against the same one.
        self.now = timezone.now()

    def rule_errors(self, cleaned) -> dict[str, str]:
        raise NotImplementedError

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("effective_from") is None:
            cleaned["effective_from"] = self.now
        for field, message in self.rule_errors(cleaned).items():
            if field not in self.errors:
                self.add_error(field, message)
        return cleaned


class EarningsHoldForm(RegionRuleForm):
    class Meta:
        model = EarningsHold
        fields = ("region", "days", "effective_from", "reason")
        help_texts = {
            "effective_from": "Empty: now. Gifts sent before it keep their hold.",
        }

    def rule_errors(self, cleaned):
        return earnings_hold_errors(
            region=cleaned.get("region"),
            days=cleaned.get("days"),
            effective_from=cleaned["effective_from"],
            reason=cleaned.get("reason") or "",
            now=self.now,
        )


class GifterLevelForm(forms.ModelForm):
    """A gifter level's threshold: refused beside the field unless thresholds keep
    rising strictly with the level."""

    class Meta:
        model = GifterLevel
        fields = ("coins_needed",)
        help_texts = {
            "coins_needed": "Coins gifted, all time, that reach this level: more "
            "than the level below, less than the level above. Applies to everyone at "
            "once: levels are read from coins gifted, never stored."
        }

    def clean(self):
        cleaned = super().clean()
        if "coins_needed" in cleaned:
            level = construct_instance(self, copy.copy(self.instance))
            for field, message in gifter_level_errors(level=level).items():
                self.add_error(field, message)
        return cleaned


class EligibilityRuleForm(RegionRuleForm):
    class Meta:
        model = EligibilityRule
        fields = (
            "region",
            "min_age",
            "min_followers",
            "review_all",
            "facts_max_age_days",
            "effective_from",
            "reason",
        )
        help_texts = {
            "effective_from": "Empty: now. Applications decided before it keep "
            "their rule.",
        }

    def rule_errors(self, cleaned):
        return eligibility_rule_errors(
            region=cleaned.get("region"),
            effective_from=cleaned["effective_from"],
            reason=cleaned.get("reason") or "",
            now=self.now,
        )


class RefuseApplicationForm(forms.Form):
    reason = forms.CharField(
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Shown to the applicant.",
    )
