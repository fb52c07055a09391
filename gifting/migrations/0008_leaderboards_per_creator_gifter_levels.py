import django.core.validators
import django.db.models.deletion
import simple_history.models
from django.conf import settings
from django.db import migrations, models
from django.db.models import F, Max, Sum


def empty_stream_boards(apps, schema_editor):
    # Keyed by stream alone, they merged creators: rebuilt per creator below.
    apps.get_model("gifting", "StreamGifter").objects.all().delete()


def rebuild_from_gift_sends(apps, schema_editor):
    GiftSend = apps.get_model("gifting", "GiftSend")
    StreamGifter = apps.get_model("gifting", "StreamGifter")
    GifterTotal = apps.get_model("gifting", "GifterTotal")
    given = Sum(F("coins") - F("subsidy_coins"))
    boards = (
        GiftSend.objects.exclude(stream_id="")
        .values("creator_id", "stream_id", "sender_id")
        .annotate(given=given, reached=Max("created_at"))
        .order_by()
    )
    StreamGifter.objects.bulk_create(
        (
            StreamGifter(
                creator_id=row["creator_id"],
                stream_id=row["stream_id"],
                sender_id=row["sender_id"],
                coins=row["given"],
                reached_at=row["reached"],
            )
            for row in boards.iterator()
        ),
        batch_size=5000,
    )
    # A creator's all-time board: the row with no stream.
    all_time = (
        GiftSend.objects.values("creator_id", "sender_id")
        .annotate(given=given, reached=Max("created_at"))
        .order_by()
    )
    StreamGifter.objects.bulk_create(
        (
            StreamGifter(
                creator_id=row["creator_id"],
                stream_id="",
                sender_id=row["sender_id"],
                coins=row["given"],
                reached_at=row["reached"],
            )
            for row in all_time.iterator()
        ),
        batch_size=5000,
    )
    totals = GiftSend.objects.values("sender_id").annotate(given=given).order_by()
    GifterTotal.objects.bulk_create(
        (
            GifterTotal(user_id=row["sender_id"], coins=row["given"])
            for row in totals.iterator()
        ),
        batch_size=5000,
    )


def forget_totals(apps, schema_editor):
    # Going back, the old key (stream alone) could not hold per-creator rows.
    apps.get_model("gifting", "StreamGifter").objects.all().delete()
    apps.get_model("gifting", "GifterTotal").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_finance_reads_list_exports"),
        ("gifting", "0007_sponsor_campaigns"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="GifterLevel",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True,
                        primary_key=True,
                        serialize=False,
                        verbose_name="ID",
                    ),
                ),
                (
                    "number",
                    models.PositiveSmallIntegerField(
                        unique=True,
                        validators=[
                            django.core.validators.MinValueValidator(1),
                            django.core.validators.MaxValueValidator(50),
                        ],
                    ),
                ),
                (
                    "coins_needed",
                    models.PositiveBigIntegerField(
                        help_text="Coins gifted, all time, that reach this level; level 1 needs 0."
                    ),
                ),
            ],
            options={
                "ordering": ["number"],
            },
        ),
        migrations.CreateModel(
            name="GifterTotal",
            fields=[
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                ("coins", models.PositiveBigIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name="HistoricalGifterLevel",
            fields=[
                (
                    "id",
                    models.BigIntegerField(
                        auto_created=True, blank=True, db_index=True, verbose_name="ID"
                    ),
                ),
                (
                    "number",
                    models.PositiveSmallIntegerField(
                        db_index=True,
                        validators=[
                            django.core.validators.MinValueValidator(1),
                            django.core.validators.MaxValueValidator(50),
                        ],
                    ),
                ),
                (
                    "coins_needed",
                    models.PositiveBigIntegerField(
                        help_text="Coins gifted, all time, that reach this level; level 1 needs 0."
                    ),
                ),
                ("history_id", models.AutoField(primary_key=True, serialize=False)),
                ("history_date", models.DateTimeField(db_index=True)),
                ("history_change_reason", models.CharField(max_length=100, null=True)),
                (
                    "history_type",
                    models.CharField(
                        choices=[("+", "Created"), ("~", "Changed"), ("-", "Deleted")],
                        max_length=1,
                    ),
                ),
            ],
            options={
                "verbose_name": "historical gifter level",
                "verbose_name_plural": "historical gifter levels",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.RunPython(empty_stream_boards, migrations.RunPython.noop),
        migrations.RemoveConstraint(
            model_name="streamgifter",
            name="payouts_streamgifter_once_per_stream",
        ),
        migrations.RemoveIndex(
            model_name="streamgifter",
            name="payouts_leaderboard",
        ),
        migrations.AddField(
            model_name="streamgifter",
            name="creator",
            field=models.ForeignKey(
                db_index=False,
                default=0,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="gifting.creatorprofile",
            ),
            preserve_default=False,
        ),
        migrations.AddIndex(
            model_name="streamgifter",
            index=models.Index(
                fields=["creator", "stream_id", "-coins", "reached_at"],
                name="gifting_stream_leaderboard",
            ),
        ),
        migrations.AddConstraint(
            model_name="streamgifter",
            constraint=models.UniqueConstraint(
                fields=("creator", "stream_id", "sender"),
                name="gifting_streamgifter_once_per_creator_stream",
            ),
        ),
        migrations.AddConstraint(
            model_name="gifterlevel",
            constraint=models.CheckConstraint(
                condition=models.Q(("number__gte", 1), ("number__lte", 50)),
                name="gifting_gifterlevel_number_in_range",
            ),
        ),
        migrations.AddConstraint(
            model_name="gifterlevel",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("coins_needed", 0), ("number", 1)),
                    models.Q(("coins_needed__gt", 0), ("number__gt", 1)),
                    _connector="OR",
                ),
                name="gifting_gifterlevel_first_needs_nothing",
            ),
        ),
        migrations.AddField(
            model_name="historicalgifterlevel",
            name="history_user",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        # Last: PostgreSQL alters no table with rows inserted in this transaction.
        migrations.RunPython(rebuild_from_gift_sends, forget_totals),
    ]
