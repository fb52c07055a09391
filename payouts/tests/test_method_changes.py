"""Where a creator is paid changes only with four eyes, and who they are never does."""

import datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.roles import FINANCE, SUPPORT
from audit.models import AuditRecord
from core.errors import ServiceError
from gifting.models import CreatorProfile
from gifting.tests.factories import creator_create, rich_creator
from payouts import selectors, services
from payouts.models import PayoutMethodChange
from wallets.tests.factories import staff_create, user_create

pytestmark = pytest.mark.django_db
Status = PayoutMethodChange.Status
IBAN = "DE89370400440532013000"


def profile_payout(creator):
    return CreatorProfile.objects.values(
        "user_id",
        "payout_method",
        "paypal_email",
        "bank_iban",
        "payout_method_changed_at",
    ).get(id=creator.id)


def ask(creator, actor, **fields):
    fields = {"payout_method": "paypal", "paypal_email": "new@example.com", **fields}
    return services.payout_method_change_request(creator=creator, actor=actor, **fields)


def test_a_creators_request_changes_nothing_until_another_finance_user_confirms():
    creator = rich_creator(paypal_email="old@example.com")
    before = profile_payout(creator)
    change = ask(creator, creator.user)

    assert change.status == Status.REQUESTED
    assert profile_payout(creator) == before

    checker = staff_create(FINANCE)
    services.payout_method_change_confirm(change=change, actor=checker)

    after = profile_payout(creator)
    assert after["paypal_email"] == "new@example.com"
    assert after["payout_method_changed_at"] is not None
    change.refresh_from_db()
    assert (change.status, change.decided_by) == (Status.CONFIRMED, checker)
    creator.refresh_from_db()
    ends = selectors.payout_method_cooloff_ends(creator=creator)
    assert ends == after["payout_method_changed_at"] + datetime.timedelta(days=5)


def test_finance_asks_and_a_different_finance_user_confirms():
    creator = rich_creator(paypal_email="old@example.com")
    maker, checker = staff_create(FINANCE), staff_create(FINANCE)
    change = ask(
        creator,
        maker,
        payout_method="bank",
        bank_account_holder="Mia M",
        bank_iban="DE89 3704 0044 0532 0130 00",
        bank_bic="COBADEFFXXX",
    )

    with pytest.raises(ServiceError, match="they asked for"):
        services.payout_method_change_confirm(change=change, actor=maker)
    assert profile_payout(creator)["paypal_email"] == "old@example.com"

    services.payout_method_change_confirm(change=change, actor=checker)
    assert profile_payout(creator)["bank_iban"] == IBAN


def test_nobody_confirms_a_change_of_their_own_payout_method():
    # A finance user who is also a creator: another finance user asked for it.
    insider = staff_create(FINANCE)
    creator = rich_creator(user=insider, paypal_email="old@example.com")
    change = ask(creator, staff_create(FINANCE), paypal_email="insider@example.com")

    with pytest.raises(ServiceError, match="their own payout method"):
        services.payout_method_change_confirm(change=change, actor=insider)

    assert profile_payout(creator)["paypal_email"] == "old@example.com"
    assert PayoutMethodChange.objects.get(id=change.id).status == Status.REQUESTED


@pytest.mark.parametrize("role", [SUPPORT, None])
def test_only_finance_confirms(role):
    creator = rich_creator(paypal_email="old@example.com")
    change = ask(creator, creator.user)
    actor = staff_create(role) if role else user_create()

    with pytest.raises(ServiceError, match="Only finance"):
        services.payout_method_change_confirm(change=change, actor=actor)
    assert profile_payout(creator)["paypal_email"] == "old@example.com"


def test_someone_else_cannot_ask_for_a_creators_change():
    creator = rich_creator()
    with pytest.raises(ServiceError, match="Only the creator or finance"):
        ask(creator, user_create())
    with pytest.raises(ServiceError):
        ask(creator, staff_create(SUPPORT))
    assert not PayoutMethodChange.objects.exists()


def test_a_new_request_supersedes_the_pending_one_and_rejection_keeps_the_profile():
    creator = rich_creator(paypal_email="old@example.com")
    first = ask(creator, creator.user, paypal_email="one@example.com")
    second = ask(creator, creator.user, paypal_email="two@example.com")
    first.refresh_from_db()
    assert first.status == Status.SUPERSEDED
    with pytest.raises(ServiceError, match="superseded"):
        services.payout_method_change_confirm(change=first, actor=staff_create(FINANCE))

    with pytest.raises(ServiceError, match="needs a reason"):
        services.payout_method_change_reject(
            change=second, actor=staff_create(FINANCE), reason=" "
        )
    services.payout_method_change_reject(
        change=second, actor=staff_create(FINANCE), reason="Name does not match"
    )
    second.refresh_from_db()
    assert (second.status, second.decision_note) == (
        Status.REJECTED,
        "Name does not match",
    )
    assert profile_payout(creator)["paypal_email"] == "old@example.com"


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"payout_method": "cash"}, "payout_method"),
        ({"paypal_email": ""}, "paypal_email"),
        ({"paypal_email": "not-an-email"}, "paypal_email"),
        (
            {
                "payout_method": "bank",
                "bank_account_holder": "M",
                "bank_bic": "COBADEFF",
            },
            "bank_iban",
        ),
        (
            {
                "payout_method": "bank",
                "bank_account_holder": "M",
                "bank_iban": "DE00370400440532013000",
                "bank_bic": "COBADEFF",
            },
            "bank_iban",
        ),
        (
            {
                "payout_method": "bank",
                "bank_account_holder": "M",
                "bank_iban": IBAN,
                "bank_bic": "nope",
            },
            "bank_bic",
        ),
    ],
)
def test_a_bad_method_is_refused_naming_the_field(fields, field):
    creator = rich_creator()
    with pytest.raises(ServiceError) as refusal:
        ask(creator, creator.user, **fields)
    assert refusal.value.field == field
    assert not PayoutMethodChange.objects.exists()


def test_the_database_refuses_a_confirmation_by_the_requester():
    creator = rich_creator()
    change = ask(creator, creator.user)
    with pytest.raises(IntegrityError), transaction.atomic():
        PayoutMethodChange.objects.filter(id=change.id).update(
            status=Status.CONFIRMED, decided_by=creator.user, decided_at=timezone.now()
        )


def test_the_database_refuses_a_new_owner_for_a_creator():
    creator = creator_create()
    owner = creator.user
    thief = user_create()

    with (
        pytest.raises(IntegrityError, match="user_id cannot change"),
        transaction.atomic(),
    ):
        CreatorProfile.objects.filter(id=creator.id).update(user=thief)
    with (
        pytest.raises(IntegrityError, match="user_id cannot change"),
        transaction.atomic(),
    ):
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE payouts_creatorprofile SET user_id = %s WHERE id = %s",
                [thief.id, creator.id],
            )
    assert CreatorProfile.objects.get(id=creator.id).user_id == owner.id
    # Other fields still change.
    CreatorProfile.objects.filter(id=creator.id).update(display_name="Renamed")


def test_each_step_is_in_the_audit():
    creator = rich_creator(paypal_email="old@example.com")
    change = ask(creator, creator.user)
    checker = staff_create(FINANCE)
    services.payout_method_change_confirm(change=change, actor=checker)

    steps = AuditRecord.objects.filter(
        model="payouts.PayoutMethodChange", object_id=str(change.id)
    ).order_by("id")
    assert [s.operation for s in steps] == ["insert", "update"]
    profile = AuditRecord.objects.filter(
        model="gifting.CreatorProfile", object_id=str(creator.id), operation="update"
    ).latest("id")
    assert profile.after["paypal_email"] == "new@example.com"


def test_a_payout_after_a_confirmed_change_waits_for_the_cooloff():
    creator = rich_creator(paypal_email="old@example.com")
    change = ask(creator, creator.user)
    services.payout_method_change_confirm(change=change, actor=staff_create(FINANCE))
    creator.refresh_from_db()
    payout = services.payout_request(
        creator=creator, diamond_units=20_000 * 10_000, idempotency_key="after"
    ).payout
    services.payout_approve(payout=payout, actor=staff_create(FINANCE))

    assert payout.destination == "new@example.com"
    assert payout.id not in services.payouts_due()
    later = timezone.now() + datetime.timedelta(days=6)
    assert payout.id in services.payouts_due(now=later)
