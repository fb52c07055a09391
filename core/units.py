"""The ledger's integer units. Here, below every app, because the ledger stores them
(wallets.units converts) and every screen shows them (core.display)."""

# Diamond amounts are kept in ten-thousandths: a gift's value then splits between
# creator and platform exactly at any share with two decimals (see gifting).
DIAMOND_PLACES = 4
DIAMOND_SCALE = 10**DIAMOND_PLACES
