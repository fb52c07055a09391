"""The books over sponsored gifts (issue 17): the new accounts tie out."""

import pytest
from django.utils import timezone

from catalog.tests.factories import gift_create
from gifting.tests.factories import creator_create, funded_sender
from gifting.tests.test_sponsored import campaign_create, send
from reports.selectors import books_for
from wallets.models import AccountKind, LedgerAccount

pytestmark = pytest.mark.django_db


def test_the_books_tie_out_the_sponsor_accounts():
    gift = gift_create(coin_price=10)
    campaign_create(gift, subsidy=4, budget=100)
    sender, creator = funded_sender(coins=100), creator_create()
    send(sender, creator, gift, quantity=2)
    today = timezone.now().date()

    books = books_for(start=today, end=today)

    closing = {line.kind: line.closing for line in books.tie_outs}
    assert closing[AccountKind.SPONSOR_FUNDING] == -100
    assert closing[AccountKind.SPONSOR_BUDGET] == 92
    assert closing[AccountKind.COINS_SPENT] == 20
    # The sender's paid coins spent: only their part.
    assert books.gift_paid_coins == 12
    assert sum(c for k, c in closing.items() if k in LedgerAccount.COIN_KINDS) == 0
