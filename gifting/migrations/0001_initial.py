"""The gifting models, moved here from `payouts` (issue 13) without moving a row.

The tables keep their `payouts_` names (each model's `db_table`), so the database
is left as it is: the models change app in Django's state only. Their content
types change app label in place, so every permission granted to a role or a user,
and every admin log entry, keeps pointing at them; the nightly level task's
schedule follows the task's new name.
"""

import django.core.validators
import django.db.models.deletion
import django.db.models.expressions
import django.utils.timezone
import simple_history.models
from decimal import Decimal
from django.conf import settings
from django.db import migrations, models


MOVED = (
    "creatorlevel",
    "creatorprofile",
    "historicalcreatorlevel",
    "historicalcreatorprofile",
    "levelchange",
    "giftsend",
    "streamgifter",
)
TASKS = {"payouts.recompute_creator_levels": "gifting.recompute_creator_levels"}


def relabel(apps, old, new, tasks):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label=old, model__in=MOVED).update(app_label=new)
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for before, after in tasks.items():
        PeriodicTask.objects.filter(task=before).update(task=after)


def forwards(apps, schema_editor):
    relabel(apps, "payouts", "gifting", TASKS)


def backwards(apps, schema_editor):
    relabel(apps, "gifting", "payouts", {new: old for old, new in TASKS.items()})


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('catalog', '0013_amounts_in_minor_units'),
        ('payouts', '0010_amounts_in_minor_units'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                    migrations.CreateModel(
                        name='CreatorLevel',
                        fields=[
                            ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                            ('number', models.PositiveSmallIntegerField(unique=True)),
                            ('name', models.CharField(max_length=40)),
                            ('min_diamonds_30d', models.PositiveBigIntegerField(help_text='Diamonds earned over the trailing 30 days that qualify.')),
                            ('share_percent', models.DecimalField(decimal_places=2, help_text="Percent of a gift's coin value the creator receives as diamonds.", max_digits=5, validators=[django.core.validators.MinValueValidator(Decimal('0.01')), django.core.validators.MaxValueValidator(Decimal('100'))])),
                        ],
                        options={
                            'db_table': 'payouts_creatorlevel',
                            'ordering': ['number'],
                            'constraints': [models.CheckConstraint(condition=models.Q(('share_percent__gt', 0), ('share_percent__lte', 100)), name='payouts_creatorlevel_share_in_range'), models.UniqueConstraint(fields=('min_diamonds_30d',), name='payouts_creatorlevel_threshold_unique')],
                        },
                    ),
                    migrations.CreateModel(
                        name='CreatorProfile',
                        fields=[
                            ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                            ('paypal_email', models.EmailField(blank=True, max_length=254, validators=[django.core.validators.EmailValidator()])),
                            ('bank_account_holder', models.CharField(blank=True, max_length=100)),
                            ('bank_iban', models.CharField(blank=True, help_text='Capitals and digits, no spaces.', max_length=34, validators=[django.core.validators.RegexValidator('^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$', 'Not an IBAN.')])),
                            ('bank_bic', models.CharField(blank=True, max_length=11, validators=[django.core.validators.RegexValidator('^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$', 'Not a BIC.')])),
                            ('display_name', models.CharField(max_length=60)),
                            ('follower_count', models.PositiveIntegerField(default=0)),
                            ('gifts_enabled', models.BooleanField(default=True)),
                            ('suspended', models.BooleanField(default=False)),
                            ('verification', models.CharField(choices=[('unverified', 'Not verified'), ('pending', 'Pending review'), ('verified', 'Verified'), ('rejected', 'Rejected')], default='unverified', max_length=12)),
                            ('level_pinned', models.BooleanField(default=False, help_text='Pinned by finance: the daily recomputation leaves it.')),
                            ('payout_method', models.CharField(blank=True, choices=[('', 'None'), ('paypal', 'PayPal'), ('bank', 'Bank transfer')], default='', max_length=8)),
                            ('payout_method_changed_at', models.DateTimeField(blank=True, null=True)),
                            ('created_at', models.DateTimeField(auto_now_add=True)),
                            ('level', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='creators', to='gifting.creatorlevel')),
                            ('user', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='creator', to=settings.AUTH_USER_MODEL)),
                        ],
                        options={
                            'db_table': 'payouts_creatorprofile',
                            'ordering': ['display_name'],
                            'permissions': [('unmask_creatorprofile', 'Can read payout destinations unmasked')],
                        },
                    ),
                    migrations.CreateModel(
                        name='HistoricalCreatorLevel',
                        fields=[
                            ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                            ('number', models.PositiveSmallIntegerField(db_index=True)),
                            ('name', models.CharField(max_length=40)),
                            ('min_diamonds_30d', models.PositiveBigIntegerField(help_text='Diamonds earned over the trailing 30 days that qualify.')),
                            ('share_percent', models.DecimalField(decimal_places=2, help_text="Percent of a gift's coin value the creator receives as diamonds.", max_digits=5, validators=[django.core.validators.MinValueValidator(Decimal('0.01')), django.core.validators.MaxValueValidator(Decimal('100'))])),
                            ('history_id', models.AutoField(primary_key=True, serialize=False)),
                            ('history_date', models.DateTimeField(db_index=True)),
                            ('history_change_reason', models.CharField(max_length=100, null=True)),
                            ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                            ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ],
                        options={
                            'verbose_name': 'historical creator level',
                            'verbose_name_plural': 'historical creator levels',
                            'db_table': 'payouts_historicalcreatorlevel',
                            'ordering': ('-history_date', '-history_id'),
                            'get_latest_by': ('history_date', 'history_id'),
                        },
                        bases=(simple_history.models.HistoricalChanges, models.Model),
                    ),
                    migrations.CreateModel(
                        name='HistoricalCreatorProfile',
                        fields=[
                            ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                            ('paypal_email', models.EmailField(blank=True, max_length=254, validators=[django.core.validators.EmailValidator()])),
                            ('bank_account_holder', models.CharField(blank=True, max_length=100)),
                            ('bank_iban', models.CharField(blank=True, help_text='Capitals and digits, no spaces.', max_length=34, validators=[django.core.validators.RegexValidator('^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$', 'Not an IBAN.')])),
                            ('bank_bic', models.CharField(blank=True, max_length=11, validators=[django.core.validators.RegexValidator('^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$', 'Not a BIC.')])),
                            ('display_name', models.CharField(max_length=60)),
                            ('gifts_enabled', models.BooleanField(default=True)),
                            ('suspended', models.BooleanField(default=False)),
                            ('verification', models.CharField(choices=[('unverified', 'Not verified'), ('pending', 'Pending review'), ('verified', 'Verified'), ('rejected', 'Rejected')], default='unverified', max_length=12)),
                            ('level_pinned', models.BooleanField(default=False, help_text='Pinned by finance: the daily recomputation leaves it.')),
                            ('payout_method', models.CharField(blank=True, choices=[('', 'None'), ('paypal', 'PayPal'), ('bank', 'Bank transfer')], default='', max_length=8)),
                            ('payout_method_changed_at', models.DateTimeField(blank=True, null=True)),
                            ('created_at', models.DateTimeField(blank=True, editable=False)),
                            ('history_id', models.AutoField(primary_key=True, serialize=False)),
                            ('history_date', models.DateTimeField(db_index=True)),
                            ('history_change_reason', models.CharField(max_length=100, null=True)),
                            ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                            ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                            ('level', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='gifting.creatorlevel')),
                            ('user', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ],
                        options={
                            'verbose_name': 'historical creator profile',
                            'verbose_name_plural': 'historical creator profiles',
                            'db_table': 'payouts_historicalcreatorprofile',
                            'ordering': ('-history_date', '-history_id'),
                            'get_latest_by': ('history_date', 'history_id'),
                        },
                        bases=(simple_history.models.HistoricalChanges, models.Model),
                    ),
                    migrations.CreateModel(
                        name='LevelChange',
                        fields=[
                            ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                            ('diamonds_30d', models.PositiveBigIntegerField(blank=True, null=True)),
                            ('reason', models.CharField(max_length=200)),
                            ('changed_at', models.DateTimeField(default=django.utils.timezone.now)),
                            ('changed_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                            ('creator', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='level_changes', to='gifting.creatorprofile')),
                            ('from_level', models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='gifting.creatorlevel')),
                            ('to_level', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='gifting.creatorlevel')),
                        ],
                        options={
                            'db_table': 'payouts_levelchange',
                            'ordering': ['-changed_at', '-id'],
                        },
                    ),
                    migrations.CreateModel(
                        name='GiftSend',
                        fields=[
                            ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                            ('quantity', models.PositiveSmallIntegerField(validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(99)])),
                            ('coin_price', models.PositiveIntegerField(help_text='Price of one gift, stamped.')),
                            ('coins', models.PositiveBigIntegerField(help_text='Coins spent: price × quantity.')),
                            ('share_percent', models.DecimalField(decimal_places=2, max_digits=5)),
                            ('creator_diamond_units', models.PositiveBigIntegerField(help_text="Creator's part in 1/10,000 diamonds.")),
                            ('platform_diamond_units', models.PositiveBigIntegerField(help_text="Platform's part in 1/10,000 diamonds.")),
                            ('placement', models.CharField(choices=[('live', 'Live stream'), ('comment', 'Video comment')], max_length=8)),
                            ('stream_id', models.CharField(blank=True, max_length=64)),
                            ('video_id', models.CharField(blank=True, max_length=64)),
                            ('comment', models.CharField(blank=True, max_length=500)),
                            ('idempotency_key', models.CharField(max_length=200)),
                            ('request_fingerprint', models.CharField(blank=True, db_default='', default='', editable=False, help_text='SHA-256 of the request that first used the idempotency key (accounts/idempotency.py); empty on rows from before it was kept.', max_length=64)),
                            ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                            ('creator', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='gifts_received', to='gifting.creatorprofile')),
                            ('gift', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='sends', to='catalog.gift')),
                            ('sender', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='gifts_sent', to=settings.AUTH_USER_MODEL)),
                        ],
                        options={
                            'db_table': 'payouts_giftsend',
                            'ordering': ['-created_at', '-id'],
                            'indexes': [models.Index(fields=['creator', '-created_at'], name='payouts_giftsend_creator'), models.Index(fields=['stream_id', '-created_at'], name='payouts_giftsend_stream'), models.Index(fields=['sender', '-created_at'], name='payouts_giftsend_sender')],
                            'constraints': [models.UniqueConstraint(fields=('sender', 'idempotency_key'), name='payouts_giftsend_key_once'), models.CheckConstraint(condition=models.Q(('quantity__gte', 1), ('quantity__lte', 99)), name='payouts_giftsend_quantity_in_range'), models.CheckConstraint(condition=models.Q(('coins', django.db.models.expressions.CombinedExpression(models.F('coin_price'), '*', models.F('quantity')))), name='payouts_giftsend_coins_are_price_times_quantity'), models.CheckConstraint(condition=models.Q(('creator_diamond_units', django.db.models.expressions.CombinedExpression(django.db.models.expressions.CombinedExpression(models.F('coins'), '*', models.Value(10000)), '-', models.F('platform_diamond_units')))), name='payouts_giftsend_split_is_exact'), models.CheckConstraint(condition=models.Q(models.Q(('placement', 'live'), models.Q(('stream_id', ''), _negated=True), ('video_id', '')), models.Q(('placement', 'comment'), models.Q(('video_id', ''), _negated=True), ('stream_id', '')), _connector='OR'), name='payouts_giftsend_place_matches_placement')],
                        },
                    ),
                    migrations.CreateModel(
                        name='StreamGifter',
                        fields=[
                            ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                            ('stream_id', models.CharField(max_length=64)),
                            ('coins', models.PositiveBigIntegerField(default=0)),
                            ('reached_at', models.DateTimeField(help_text='When the total last grew: ties go to the earlier.')),
                            ('sender', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ],
                        options={
                            'db_table': 'payouts_streamgifter',
                            'indexes': [models.Index(fields=['stream_id', '-coins', 'reached_at'], name='payouts_leaderboard')],
                            'constraints': [models.UniqueConstraint(fields=('stream_id', 'sender'), name='payouts_streamgifter_once_per_stream')],
                        },
                    ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(forwards, backwards),
    ]
