"""The ledger's posting on PostgreSQL: one round trip for all the legs of an event.

The money rules (who may send, the price, the split, limits, promotions) are
decided in Python, once, by the services; what runs here is only the posting of
the legs they computed: move the balances (refusing an overdraft), draw a coin
spend from the spender's bonus coins and then their oldest purchase lots, insert
the transfers (their unique key refuses a second posting of the same leg), and
queue deferred credits. `ledger.python_post` is the same contract in Python: the
path on SQLite, and the reference this one is tested against, leg for leg, on
random sequences of events (tests/test_posting_differential.py).

The function is (re)created after each `migrate`, like the audit's triggers, so
its source lives here, beside the Python that calls it.

Why a function: a gift through the ORM was 15 statements, each a round trip with
its Python around it (about 0.4 ms each); one call of a planned function costs the
database about what a one-row transaction does (bench/README.md).
"""

import contextlib
import datetime
import json

from django.conf import settings
from django.db import DatabaseError, connections

from .models import LedgerAccount, PendingCredit, Purchase, Transfer

# Raised by ledger_post when a debit would overdraw; its DETAIL is JSON.
INSUFFICIENT_SQLSTATE = "LB409"

_ACCOUNTS = LedgerAccount._meta.db_table
_TRANSFERS = Transfer._meta.db_table
_PENDING = PendingCredit._meta.db_table
_LOTS = Purchase._meta.db_table

FUNCTION = f"""
CREATE OR REPLACE FUNCTION ledger_post(
    p_reference text, p_legs jsonb, p_now timestamptz
) RETURNS TABLE (
    transfer_id bigint,
    debit_id bigint,
    credit_id bigint,
    unit text,
    amount bigint,
    kind text,
    reference text,
    idempotency_key text
)
LANGUAGE plpgsql AS $fn$
DECLARE
    leg jsonb;
    v_amount bigint;
    v_balance bigint;
    v_kind text;
    v_bonus_id bigint;
    v_bonus bigint := 0;
    v_paid_id bigint;
    v_paid bigint := 0;
    v_take bigint;
    v_left bigint;
    v_account record;
    v_lot record;
    v_part record;
BEGIN
    FOR leg IN SELECT value FROM jsonb_array_elements(p_legs) LOOP
        v_amount := (leg->>'amount')::bigint;
        IF leg ? 'spender' THEN
            -- A coin spend: lock the spender's coin accounts in id order (as every
            -- service that touches coins does), bonus coins first, then paid.
            v_bonus_id := NULL; v_paid_id := NULL; v_bonus := 0; v_paid := 0;
            FOR v_account IN
                SELECT a.id, a.kind, a.balance FROM {_ACCOUNTS} a
                WHERE a.owner_id = (leg->>'spender')::bigint
                  AND a.kind IN ('bonus_coins', 'paid_coins')
                ORDER BY a.id FOR UPDATE
            LOOP
                IF v_account.kind = 'bonus_coins' THEN
                    v_bonus_id := v_account.id; v_bonus := v_account.balance;
                ELSE
                    v_paid_id := v_account.id; v_paid := v_account.balance;
                END IF;
            END LOOP;
            IF v_bonus + v_paid < v_amount THEN
                RAISE EXCEPTION 'insufficient balance' USING
                    ERRCODE = '{INSUFFICIENT_SQLSTATE}',
                    DETAIL = json_build_object(
                        'kind', NULL, 'balance', v_bonus + v_paid, 'needed', v_amount
                    )::text;
            END IF;
            FOR v_part IN
                SELECT * FROM (VALUES
                    (v_bonus_id, least(v_bonus, v_amount), 'bonus'),
                    (v_paid_id, v_amount - least(v_bonus, v_amount), 'paid')
                ) AS part(account_id, take, suffix)
                WHERE part.take > 0
            LOOP
                IF v_part.suffix = 'paid' THEN
                    v_left := v_part.take;
                    FOR v_lot IN
                        SELECT l.id, l.paid_coins_remaining FROM {_LOTS} l
                        WHERE l.user_id = (leg->>'spender')::bigint
                          AND l.paid_coins_remaining > 0
                        ORDER BY l.created_at, l.id FOR UPDATE
                    LOOP
                        v_take := least(v_left, v_lot.paid_coins_remaining);
                        UPDATE {_LOTS} SET paid_coins_remaining =
                            paid_coins_remaining - v_take WHERE id = v_lot.id;
                        v_left := v_left - v_take;
                        EXIT WHEN v_left = 0;
                    END LOOP;
                    IF v_left > 0 THEN
                        RAISE EXCEPTION 'Paid coins of user % and their purchases '
                            'disagree.', leg->>'spender';
                    END IF;
                END IF;
                UPDATE {_ACCOUNTS} SET balance = balance - v_part.take
                    WHERE id = v_part.account_id;
                IF NOT (leg->>'credit_system')::boolean THEN
                    UPDATE {_ACCOUNTS} SET balance = balance + v_part.take
                        WHERE id = (leg->>'credit')::bigint;
                END IF;
                RETURN QUERY INSERT INTO {_TRANSFERS} AS t (
                    debit_account_id, credit_account_id, unit, amount, kind,
                    reference, idempotency_key, created_at
                ) VALUES (
                    v_part.account_id, (leg->>'credit')::bigint, 'coin', v_part.take,
                    leg->>'kind', p_reference,
                    (leg->>'key') || ':' || v_part.suffix, p_now
                ) RETURNING t.id, t.debit_account_id, t.credit_account_id, t.unit::text,
                    t.amount, t.kind::text, t.reference::text,
                    t.idempotency_key::text;
            END LOOP;
            CONTINUE;
        END IF;
        IF NOT (leg->>'debit_system')::boolean THEN
            UPDATE {_ACCOUNTS} SET balance = balance - v_amount
                WHERE id = (leg->>'debit')::bigint AND balance >= v_amount;
            IF NOT FOUND THEN
                SELECT a.balance, a.kind INTO v_balance, v_kind FROM {_ACCOUNTS} a
                    WHERE a.id = (leg->>'debit')::bigint;
                RAISE EXCEPTION 'insufficient balance' USING
                    ERRCODE = '{INSUFFICIENT_SQLSTATE}',
                    DETAIL = json_build_object(
                        'kind', v_kind, 'balance', v_balance, 'needed', v_amount
                    )::text;
            END IF;
        END IF;
        IF NOT (leg->>'credit_system')::boolean AND NOT (leg->>'defer')::boolean THEN
            UPDATE {_ACCOUNTS} SET balance = balance + v_amount
                WHERE id = (leg->>'credit')::bigint;
        END IF;
        RETURN QUERY WITH posted AS (
            INSERT INTO {_TRANSFERS} AS t (
                debit_account_id, credit_account_id, unit, amount, kind,
                reference, idempotency_key, created_at
            ) VALUES (
                (leg->>'debit')::bigint, (leg->>'credit')::bigint, leg->>'unit',
                v_amount, leg->>'kind', coalesce(leg->>'reference', p_reference),
                leg->>'key', p_now
            ) RETURNING t.*
        ), queued AS (
            INSERT INTO {_PENDING} (account_id, transfer_id, amount)
            SELECT posted.credit_account_id, posted.id, posted.amount FROM posted
            WHERE (leg->>'defer')::boolean AND NOT (leg->>'credit_system')::boolean
        )
        SELECT posted.id, posted.debit_account_id, posted.credit_account_id,
            posted.unit::text, posted.amount, posted.kind::text,
            posted.reference::text, posted.idempotency_key::text
        FROM posted;
    END LOOP;
END;
$fn$;
"""


def in_database(connection) -> bool:
    """Post through `ledger_post` on PostgreSQL unless settings ask for the Python
    reference (`LEDGER_POSTING = "python"`: the differential tests switch it)."""
    return (
        connection.vendor == "postgresql"
        and getattr(settings, "LEDGER_POSTING", "database") == "database"
    )


def call(legs, *, reference: str, now: datetime.datetime) -> tuple[str, list]:
    """The `ledger_post(...)` call that posts `legs`, and its parameters: a
    function call a caller may put in a statement of its own (a gift send inserts
    its row in the same statement)."""
    return (
        "ledger_post(%s, %s::jsonb, %s)",
        [reference, json.dumps([_leg_json(leg) for leg in legs]), now],
    )


def _leg_json(leg) -> dict:
    from .ledger import CoinSpend

    if isinstance(leg, CoinSpend):
        return {
            "spender": leg.spender_id,
            "credit": leg.credit.id,
            "credit_system": leg.credit.is_system,
            "amount": leg.amount,
            "kind": leg.kind,
            "key": leg.idempotency_key,
        }
    data = {
        "debit": leg.debit.id,
        "debit_system": leg.debit.is_system,
        "credit": leg.credit.id,
        "credit_system": leg.credit.is_system,
        "unit": leg.debit.unit,
        "amount": leg.amount,
        "kind": leg.kind,
        "key": leg.idempotency_key,
        "defer": leg.defer_credit,
    }
    if leg.reference:
        data["reference"] = leg.reference
    return data


@contextlib.contextmanager
def refusals_raised():
    """Turn `ledger_post`'s refusal of an overdraft into InsufficientBalance, the
    error the Python posting raises, with the same message."""
    from .ledger import insufficient_balance

    try:
        yield
    except DatabaseError as error:
        cause = error.__cause__
        if getattr(cause, "sqlstate", None) != INSUFFICIENT_SQLSTATE:
            raise
        detail = json.loads(cause.diag.message_detail)
        raise insufficient_balance(
            kind=detail["kind"], balance=detail["balance"], needed=detail["needed"]
        ) from None


def transfers_from(rows, *, now: datetime.datetime, using: str) -> list[Transfer]:
    """The transfers `ledger_post` returned, as the model's saved instances."""
    transfers = [
        Transfer(
            id=row[0],
            debit_account_id=row[1],
            credit_account_id=row[2],
            unit=row[3],
            amount=row[4],
            kind=row[5],
            reference=row[6],
            idempotency_key=row[7],
            created_at=now,
        )
        for row in rows
    ]
    for transfer in transfers:
        transfer._state.adding = False
        transfer._state.db = using
    return transfers


def install(using: str = "default") -> None:
    """Create or replace `ledger_post`; idempotent, run after each `migrate`."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(FUNCTION)
