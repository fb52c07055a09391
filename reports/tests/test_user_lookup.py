"""Support's user lookup: one search box, one read-only page per user."""

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from djmoney.money import Money

from accounts.roles import CATALOG_EDITORS, FINANCE, SUPPORT
from audit.models import AuditRecord
from catalog.models import Gift
from gifting import services as gifting_services
from gifting.models import GiftSend
from gifting.tests.factories import funded_sender, rich_creator, rose
from payouts import services as payout_services
from reports.selectors import ROWS_SHOWN, TRANSFERS_SHOWN
from wallets.models import DIAMOND_SCALE, Purchase, SpendingLimitOverride, Transfer
from wallets.selectors import wallet_balances
from wallets.tests.factories import region_create, staff_create, user_create
from wallets.units import diamonds_display

pytestmark = pytest.mark.django_db

SEARCH = "/admin/reports/userlookup/"


def page_url(user) -> str:
    return f"{SEARCH}{user.pk}/change/"


def gift(sender, creator, key: str, quantity: int = 1) -> GiftSend:
    return gifting_services.gift_send(
        sender=sender,
        creator=creator,
        gift=Gift.objects.get(slug="rose"),
        quantity=quantity,
        placement="live",
        stream_id="stream-1",
        region=None,
        idempotency_key=key,
    ).gift_send


def history_create():
    """A viewer who bought coins and sent a creator gifts; the creator cashed out."""
    viewer = funded_sender(1000, username="mia", email="Mia.Rossi@example.com")
    creator = rich_creator(
        diamonds=30_000,
        paypal_email="jo.streamer@example.com",
        user=user_create(username="jo_streams", email="jo@example.com"),
    )
    rose()
    sends = [gift(viewer, creator, f"g{n}", quantity=n + 1) for n in range(2)]
    payout = payout_services.payout_request(
        creator=creator, diamond_units=20_000 * DIAMOND_SCALE, idempotency_key="p"
    ).payout
    SpendingLimitOverride.objects.create(
        user=viewer,
        region=region_create("US"),
        daily_limit=Money("25", "USD"),
        reason="Asked for a lower limit <b>ticket 7</b>",
    )
    return {"viewer": viewer, "creator": creator, "sends": sends, "payout": payout}


@pytest.fixture
def history():
    return history_create()


@pytest.fixture
def support(client):
    client.force_login(staff_create(SUPPORT))
    return client


# --- The search -------------------------------------------------------------------


@pytest.mark.parametrize(
    "query", ["mia", "MIA", "mia.rossi@example.com", " Mia.Rossi@EXAMPLE.com "]
)
def test_an_exact_username_or_email_opens_the_users_page(support, history, query):
    response = support.get(SEARCH, {"q": query})

    assert response.status_code == 302
    assert response["Location"] == page_url(history["viewer"])


def test_a_user_id_opens_the_users_page(support, history):
    response = support.get(SEARCH, {"q": str(history["creator"].user_id)})

    assert response["Location"] == page_url(history["creator"].user)


def test_no_match_says_so_beside_the_search(support, history):
    response = support.get(SEARCH, {"q": "nobody-like-this"})

    assert response.status_code == 200
    assert response.context["matches"].users == []
    assert "No user matches “nobody-like-this”" in response.content.decode()
    assert 'value="nobody-like-this"' in response.content.decode()


def test_several_exact_matches_are_listed_to_choose_from(support, history):
    # E-mails are not unique: two accounts of one person, and an id that is a name.
    twin = user_create(username="mia_old", email="mia.rossi@example.com")
    numbered = user_create(username=str(history["viewer"].pk))

    response = support.get(SEARCH, {"q": "mia.rossi@example.com"})
    assert response.status_code == 200
    assert response.context["matches"].exact
    assert [u.username for u in response.context["matches"].users] == [
        "mia",
        "mia_old",
    ]
    html = response.content.decode()
    assert "2 users match" in html
    assert f'href="{page_url(twin)}"' in html

    by_id = support.get(SEARCH, {"q": str(history["viewer"].pk)})
    assert {u.pk for u in by_id.context["matches"].users} == {
        history["viewer"].pk,
        numbered.pk,
    }


def test_a_part_of_a_name_lists_who_contains_it_and_never_jumps(support, history):
    user_create(username="jo_backup", email="backup@example.com")

    response = support.get(SEARCH, {"q": "jo_"})
    assert response.status_code == 200
    matches = response.context["matches"]
    assert not matches.exact
    assert [u.username for u in matches.users] == ["jo_backup", "jo_streams"]

    single = support.get(SEARCH, {"q": "streams"})
    assert single.status_code == 200  # one partial match is listed, not opened
    assert [u.username for u in single.context["matches"].users] == ["jo_streams"]


def test_an_empty_search_shows_only_the_box(support, history):
    response = support.get(SEARCH)

    assert response.status_code == 200
    assert response.context["matches"].users == []
    assert 'name="q"' in response.content.decode()


# --- The page ---------------------------------------------------------------------


def cells(html: str, section: str) -> str:
    return html.split(f'id="{section}"', 1)[1].split('class="lookup-section"', 1)[0]


def test_the_page_shows_wallet_purchases_gifts_and_transfers_with_links(
    support, history
):
    viewer = history["viewer"]
    purchase = Purchase.objects.get(user=viewer)
    first, second = history["sends"]

    response = support.get(page_url(viewer))

    assert response.status_code == 200
    html = response.content.decode()
    # 1,000 paid coins less 3 roses; a welcome bonus would show as bonus coins.
    assert "997 coins" in html
    assert "997 paid · 0 bonus" in html
    assert ">0 diamonds<" in html
    assert (
        f'href="/admin/wallets/purchase/{purchase.pk}/change/">#{purchase.pk}' in html
    )
    assert (
        f'<a href="/admin/wallets/purchase/?user__id__exact={viewer.pk}">All purchases'
        in html
    )
    sent = cells(html, "gifts-sent")
    assert f'href="/admin/gifting/giftsend/{second.pk}/change/">#{second.pk}' in sent
    assert sent.index(f"#{second.pk}") < sent.index(f"#{first.pk}")  # newest first
    assert "Rose × 2" in sent
    creator_page = page_url(history["creator"].user)
    assert f'href="{creator_page}">Creator {history["creator"].user_id}' in sent
    transfers = cells(html, "transfers")
    assert (
        f'<a href="/admin/gifting/giftsend/{second.pk}/change/">gift:{second.pk}</a>'
        in transfers
    )
    assert (
        f'<a href="/admin/wallets/purchase/{purchase.pk}/change/">'
        f"purchase:{purchase.pk}</a>" in transfers
    )
    assert "-2 coins" in transfers and "+1,000 coins" in transfers
    assert f'href="/admin/wallets/transfer/?user={viewer.pk}"' in transfers
    # A viewer is no creator: no payouts, no gifts received.
    assert 'id="payouts"' not in html and 'id="gifts-received"' not in html


def test_a_creators_page_shows_gifts_received_payouts_and_diamonds(support, history):
    creator, payout = history["creator"], history["payout"]

    html = support.get(page_url(creator.user)).content.decode()

    # 30,000 from the factory and 3 roses' share, less 20,000 held for the payout.
    held = wallet_balances(user=creator.user).diamond_units
    assert 10_000 * DIAMOND_SCALE < held < 10_003 * DIAMOND_SCALE
    assert f"{diamonds_display(held)} diamonds" in html
    received = cells(html, "gifts-received")
    assert f'href="{page_url(history["viewer"])}">mia</a>' in received
    payouts = cells(html, "payouts")
    assert (
        f'<a href="/admin/payouts/payout/{payout.pk}/change/">{payout.reference}</a>'
        in payouts
    )
    assert "20,000" in payouts
    assert (
        f"/admin/payouts/payout/?queue=all&amp;creator__id__exact={creator.pk}"
        in payouts
    )
    transfers = cells(html, "transfers")
    assert (
        f'<a href="/admin/payouts/payout/{payout.pk}/change/">payout:{payout.pk}</a>'
        in transfers
    )
    assert "-20,000 diamonds" in transfers


@pytest.mark.parametrize("role", [SUPPORT, FINANCE])
def test_payout_destinations_are_masked_for_every_role(client, history, role):
    creator = history["creator"]
    payout_services.payout_method_change_request(
        creator=creator,
        actor=creator.user,
        payout_method="bank",
        bank_account_holder="Jo Streamer",
        bank_iban="DE89370400440532013000",
        bank_bic="COBADEFFXXX",
        reason="New bank",
    )
    client.force_login(staff_create(role))

    html = client.get(page_url(creator.user)).content.decode()

    assert "jo.streamer@example.com" not in html
    assert "DE89370400440532013000" not in html
    assert "j***@example.com" in html
    assert "DE89 **** **** 3000" in html


def test_limits_show_the_region_and_the_users_own_escaped(support, history):
    html = support.get(page_url(history["viewer"])).content.decode()

    limits = cells(html, "limits")
    assert "$25.00" in limits
    assert "Own: Asked for a lower limit &lt;b&gt;ticket 7&lt;/b&gt;" in limits
    assert "<b>ticket 7</b>" not in html
    assert "In force in US: $25.00 a day, no monthly limit." in limits
    assert "Spent (UTC days): $9.99 today, $9.99 this month." in limits


def test_a_long_history_shows_the_newest_and_links_to_the_rest(support, history):
    viewer, creator = history["viewer"], history["creator"]
    for n in range(TRANSFERS_SHOWN):  # a transfer each: more than either shows
        gift(viewer, creator, f"more-{n}")

    response = support.get(page_url(viewer))

    sections = {s.key: s for s in response.context["sections"]}
    assert len(sections["gifts-sent"].rows) == ROWS_SHOWN
    assert sections["gifts-sent"].more
    assert len(sections["transfers"].rows) == TRANSFERS_SHOWN
    assert sections["transfers"].more
    newest = GiftSend.objects.filter(sender=viewer).order_by("-id").first()
    assert f"#{newest.pk}" in str(sections["gifts-sent"].rows[0][1])
    assert "The newest 20." in response.content.decode()


def test_an_unknown_or_malformed_user_is_a_404(support, history):
    assert support.get(f"{SEARCH}999999/change/").status_code == 404
    assert support.get(f"{SEARCH}abc/change/").status_code == 404
    assert support.get(f"{SEARCH}{'9' * 30}/change/").status_code == 404


def test_following_all_transfers_lists_exactly_the_users_transfers(support, history):
    viewer = history["viewer"]
    mine = set(
        Transfer.objects.filter(debit_account__owner=viewer).values_list(
            "id", flat=True
        )
    ) | set(
        Transfer.objects.filter(credit_account__owner=viewer).values_list(
            "id", flat=True
        )
    )

    response = support.get("/admin/wallets/transfer/", {"user": viewer.pk})

    assert response.status_code == 200
    assert {t.pk for t in response.context["cl"].result_list} == mine
    html = response.content.decode()
    first = history["sends"][0]
    assert (
        f'<a href="/admin/gifting/giftsend/{first.pk}/change/">gift:{first.pk}' in html
    )
    for nonsense in ("abc", "0", "-1"):
        listed = support.get("/admin/wallets/transfer/", {"user": nonsense})
        assert listed.status_code == 200
        assert list(listed.context["cl"].result_list) == []


# --- Who may read it, and that reading writes nothing -----------------------------


def test_support_and_finance_are_granted_the_lookup_and_catalog_editors_not():
    granted = {
        name: Group.objects.get(name=name)
        .permissions.filter(
            codename="view_userlookup", content_type__app_label="reports"
        )
        .exists()
        for name in (SUPPORT, FINANCE, CATALOG_EDITORS)
    }
    assert granted == {SUPPORT: True, FINANCE: True, CATALOG_EDITORS: False}


@pytest.mark.parametrize(
    "url", [SEARCH, f"{SEARCH}?q=mia", "page", f"{SEARCH}999999/change/"]
)
def test_a_catalog_editor_gets_a_403_also_on_a_direct_url(client, history, url):
    client.force_login(staff_create(CATALOG_EDITORS))
    url = page_url(history["viewer"]) if url == "page" else url

    response = client.get(url)

    assert response.status_code == 403
    html = response.content.decode()
    assert "Gift economy back-office" in html  # the admin's own look
    assert 'href="/admin/"' in html  # and a way back
    assert "mia" not in html.split('id="content"', 1)[1]


@pytest.mark.parametrize("who", ["anonymous", "client user"])
def test_who_is_not_staff_is_sent_to_the_login(client, history, who):
    if who == "client user":
        client.force_login(history["viewer"])

    response = client.get(page_url(history["creator"].user))

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def queries_for(client, url, status=200) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == status
    return [query["sql"] for query in captured.captured_queries]


def test_the_page_runs_the_same_few_queries_however_long_the_history(support, history):
    viewer, creator = history["viewer"], history["creator"]
    support.get(page_url(viewer))  # the session and permissions, once
    short = queries_for(support, page_url(viewer))
    for n in range(30):
        gift(viewer, creator, f"long-{n}")
    for n in range(3):
        funded_sender(100, username=f"fan{n}")

    long = queries_for(support, page_url(viewer))
    creator_page = queries_for(support, page_url(creator.user))

    assert len(long) == len(short) <= 16, "\n".join(long)
    # A creator's page adds gifts received, payouts and the pending method change.
    assert len(creator_page) <= len(short) + 4, "\n".join(creator_page)


@pytest.mark.parametrize("role", [SUPPORT, FINANCE])
def test_reading_writes_nothing(client, history, role):
    client.force_login(staff_create(role))
    audited, logged = AuditRecord.objects.count(), LogEntry.objects.count()

    writes = []
    for url, status in (
        (SEARCH, 200),
        (f"{SEARCH}?q=mia", 302),
        (f"{SEARCH}?q=jo", 200),
        (page_url(history["viewer"]), 200),
        (page_url(history["creator"].user), 200),
    ):
        writes += [
            sql
            for sql in queries_for(client, url, status)
            if re.match(r"\s*(INSERT|UPDATE|DELETE)", sql, re.IGNORECASE)
        ]

    assert writes == []
    assert (AuditRecord.objects.count(), LogEntry.objects.count()) == (
        audited,
        logged,
    )
