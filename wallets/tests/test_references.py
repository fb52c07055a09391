"""A transfer's reference links to what it names, for who may open that."""

import pytest
from django.utils.safestring import SafeString

from accounts.roles import CATALOG_EDITORS, SUPPORT
from wallets.references import reference_link, reference_url

from .factories import staff_create

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "reference, url",
    [
        ("purchase:42", "/admin/wallets/purchase/42/change/"),
        ("gift:2", "/admin/gifting/giftsend/2/change/"),
        ("payout:7", "/admin/payouts/payout/7/change/"),
        ("adjustment:5", "/admin/wallets/balanceadjustment/?user__id__exact=5"),
    ],
)
def test_each_kind_of_reference_names_its_page(reference, url):
    assert reference_url(reference, user=staff_create(SUPPORT)) == url


@pytest.mark.parametrize(
    "reference", ["", "gift", "gift:", "gift:x", "gift:²", "test-earnings:3", "PO-1"]
)
def test_a_reference_that_names_no_page_stays_text(reference):
    support = staff_create(SUPPORT)

    assert reference_url(reference, user=support) is None
    assert reference_link(reference, user=support) == (reference or "—")


def test_who_may_not_open_the_page_gets_text_not_a_dead_link():
    editor = staff_create(CATALOG_EDITORS)

    assert reference_url("purchase:42", user=editor) is None
    text = reference_link("<b>gift:1</b>", user=editor)
    assert text == "<b>gift:1</b>" and not isinstance(text, SafeString)  # escaped
    link = reference_link("gift:1", user=staff_create(SUPPORT))
    assert link == '<a href="/admin/gifting/giftsend/1/change/">gift:1</a>'
