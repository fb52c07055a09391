from collections.abc import Mapping

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.models import BundlePrice, CoinBundle, Region
from catalog.selectors import bundle_and_region_by_code
from core.api.fields import CodeRelatedField, RegionCodeField

from ..models import Purchase, RefundRequest, Transfer
from ..serializers import WalletSerializer


class WalletTransferSerializer(serializers.ModelSerializer):
    account = serializers.SerializerMethodField(
        help_text="The user's balance that moved: paid_coins, bonus_coins or diamonds."
    )
    amount = serializers.SerializerMethodField(
        help_text="Signed change of that balance: positive in, negative out; coins, "
        "or diamonds in ten-thousandths."
    )

    class Meta:
        model = Transfer
        fields = ["id", "created_at", "kind", "unit", "account", "amount", "reference"]
        extra_kwargs = {
            "id": {"help_text": "Transfer id."},
            "created_at": {"help_text": "When it was posted."},
            "kind": {"help_text": "What kind of movement it was."},
            "unit": {"help_text": "coin or diamond."},
            "reference": {"help_text": "What caused it, e.g. purchase:42."},
        }

    def _users_side(self, transfer):
        user_id = self.context["request"].user.id
        if transfer.credit_account.owner_id == user_id:
            return transfer.credit_account, 1
        return transfer.debit_account, -1

    def get_account(self, transfer) -> str:
        return self._users_side(transfer)[0].kind

    def get_amount(self, transfer) -> int:
        return self._users_side(transfer)[1] * transfer.amount


class _FoundByCode:
    """A code field whose object the serializer found beforehand, with the other
    code (`PurchaseCreateSerializer.to_internal_value`); its queryset says which
    objects a code may name and is what `bundle_and_region_by_code` selects."""

    def to_internal_value(self, data):
        if not isinstance(data, str) or "\x00" in data:
            self.fail("invalid", slug_name=self.slug_field)
        found = self.parent.found.get(self.field_name)
        if found is None:
            self.fail("does_not_exist", slug_name=self.slug_field, value=str(data))
        return found


# The querysets are class attributes: DRF deep-copies a field's arguments for every
# serializer instance, and copying a queryset argument cost a purchase 0.05 ms.
class _BundleSkuField(_FoundByCode, CodeRelatedField):
    queryset = CoinBundle.objects.all()


class _RegionCodeField(_FoundByCode, RegionCodeField):
    queryset = Region.objects.filter(is_active=True)


class PurchaseCreateSerializer(serializers.Serializer):
    bundle = _BundleSkuField(
        slug_field="sku",
        error_messages={"does_not_exist": "Unknown bundle: {value}."},
        help_text="The bundle's sku, e.g. coins_100.",
    )
    region = _RegionCodeField(
        slug_field="code",
        error_messages={"does_not_exist": "Unknown or inactive region: {value}."},
        help_text="ISO 3166-1 code of the buyer's home region, which must match: "
        "set by the user's first purchase (the store's storefront where the store "
        "reports one, else this region) and changed only by support. Another region, "
        "or a receipt from another storefront, is refused.",
    )
    channel = serializers.ChoiceField(
        choices=BundlePrice.Channel.choices, help_text="app or web."
    )
    store = serializers.ChoiceField(
        choices=Purchase.Store.choices,
        help_text="apple or google (app channel), web (web channel).",
    )
    receipt = serializers.CharField(
        max_length=8192,
        help_text="The store's receipt or payment token, verbatim, for this bundle "
        "and bought for this account (the user id the app passed to the store as "
        "Apple's appAccountToken / Google's obfuscatedAccountId). The sandbox store "
        "takes a signed `<payload>.<signature>` receipt: get one with `manage.py "
        "sandbox_receipt --user <username> --sku <sku> --store <store>`.",
    )

    def to_internal_value(self, data):
        # Both codes in one statement, before the fields validate: a lookup each
        # cost a purchase 0.6 ms of ORM. The fields still say what is wrong, and
        # every field's error comes in the one answer as before.
        self.found = {}
        if isinstance(data, Mapping):
            codes = {
                name: self.fields[name].get_value(data) for name in ("bundle", "region")
            }
            text = {
                name: code if isinstance(code, str) and "\x00" not in code else None
                for name, code in codes.items()
            }
            bundle, region = bundle_and_region_by_code(
                sku=text["bundle"], region_code=text["region"]
            )
            self.found = {"bundle": bundle, "region": region}
        return super().to_internal_value(data)


class MoneySerializer(serializers.Serializer):
    amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text="Decimal amount, as a string."
    )
    currency = serializers.CharField(help_text="ISO 4217 code.")


class PurchaseSerializer(serializers.ModelSerializer):
    bundle = serializers.SlugRelatedField(
        slug_field="sku", read_only=True, help_text="The bundle's sku."
    )
    region = serializers.SlugRelatedField(
        slug_field="code", read_only=True, help_text="Region code."
    )
    price = serializers.SerializerMethodField(help_text="Price charged, stamped.")
    bonus_coins = serializers.IntegerField(
        read_only=True, help_text="Bundle bonus plus promotion bonus coins."
    )

    class Meta:
        model = Purchase
        fields = [
            "id",
            "bundle",
            "region",
            "channel",
            "store",
            "store_transaction_id",
            "price",
            "coins",
            "bonus_coins",
            "status",
            "created_at",
            "refunded_at",
        ]
        extra_kwargs = {
            "id": {"help_text": "Purchase id."},
            "channel": {"help_text": "app or web."},
            "store": {"help_text": "Store that took the payment."},
            "store_transaction_id": {"help_text": "The store's transaction id."},
            "coins": {"help_text": "Paid coins credited."},
            "status": {"help_text": "completed or refunded."},
            "created_at": {"help_text": "When it was recorded."},
            "refunded_at": {"help_text": "When it was refunded, or null."},
        }

    @extend_schema_field(MoneySerializer)
    def get_price(self, purchase):
        return {
            "amount": str(purchase.price.amount),
            "currency": str(purchase.price.currency),
        }


class PurchaseResultSerializer(serializers.Serializer):
    purchase = PurchaseSerializer(help_text="The purchase recorded (or the first one).")
    wallet = WalletSerializer(help_text="The buyer's balances afterwards.")


# DRF's own representation of a datetime, as PurchaseSerializer's fields give it.
_DATETIME = serializers.DateTimeField()


def purchase_result_data(purchase: Purchase, wallet: dict) -> dict:
    """The answer to a purchase as `PurchaseResultSerializer` describes it, built
    directly: instantiating the serializers cost every purchase about 0.6 ms.
    `wallet` is `wallets.serializers.wallet_data`'s. A test holds the two equal."""
    price = purchase.price
    return {
        "purchase": {
            "id": purchase.id,
            "bundle": purchase.bundle.sku,
            "region": purchase.region.code,
            "channel": str(purchase.channel),
            "store": str(purchase.store),
            "store_transaction_id": purchase.store_transaction_id,
            "price": {"amount": str(price.amount), "currency": str(price.currency)},
            "coins": purchase.coins,
            "bonus_coins": purchase.bonus_coins,
            "status": str(purchase.status),
            "created_at": _DATETIME.to_representation(purchase.created_at),
            "refunded_at": (
                None
                if purchase.refunded_at is None
                else _DATETIME.to_representation(purchase.refunded_at)
            ),
        },
        "wallet": wallet,
    }


class StoreNotificationSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["refund"], help_text="Only refund for now.")
    transaction_id = serializers.CharField(
        max_length=128, help_text="The store's id of the refunded transaction."
    )


class StoreNotificationResultSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["refunded", "refunded_partly", "already_refunded", "ignored"],
        help_text="What the platform did: refunded (took back all the purchase's "
        "coins); refunded_partly (took back what was left, some coins were already "
        "spent); already_refunded (refunded before, a repeat: nothing moved); "
        "ignored (no purchase of this store has that transaction).",
    )
    detail = serializers.CharField(
        required=False,
        help_text="With refunded_partly: what could not be taken back, and what "
        "was. With already_refunded after the platform's own refund: that the buyer "
        "now has the price back twice (on record for finance).",
    )


class RefundRequestCreateSerializer(serializers.Serializer):
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=1000,
        help_text="Why, in the buyer's words (optional: a withdrawal needs no "
        "reason); finance reads it when the request waits for them.",
    )


class RefundRequestSerializer(serializers.ModelSerializer):
    review = serializers.CharField(
        help_text="Why it waits or waited for finance: no_self_service (finance "
        "decides every refund in the purchase's region) or self_service_passed (past "
        "the days in which a request is granted at once); empty when granted at once."
    )

    class Meta:
        model = RefundRequest
        fields = [
            "id",
            "purchase",
            "status",
            "reason",
            "review",
            "review_detail",
            "decline_reason",
            "paid_coins_taken_back",
            "bonus_coins_taken_back",
            "created_at",
            "decided_at",
        ]
        extra_kwargs = {
            "id": {"help_text": "Refund request id."},
            "purchase": {"help_text": "The purchase's id."},
            "status": {
                "help_text": "granted (at once, within the rules: the coins are "
                "taken back), queued (waiting for finance), approved (granted by "
                "finance) or declined (by finance, with decline_reason)."
            },
            "reason": {"help_text": "What the buyer wrote."},
            "review_detail": {"help_text": "The same, said for people; or empty."},
            "decline_reason": {"help_text": "Why finance declined it; or empty."},
            "paid_coins_taken_back": {
                "help_text": "Paid coins the refund took back; null until granted."
            },
            "bonus_coins_taken_back": {
                "help_text": "Bonus coins the refund took back; null until granted."
            },
            "created_at": {"help_text": "When it was asked for."},
            "decided_at": {
                "help_text": "When it was granted or decided; null while queued."
            },
        }


class RefundRequestResultSerializer(serializers.Serializer):
    refund_request = RefundRequestSerializer(help_text="The request (or the first).")
    wallet = WalletSerializer(help_text="The buyer's balances afterwards.")
