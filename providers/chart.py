"""BEX's default chart of accounts and VAT codes, defined once.

The PMS simulator serves these ledger accounts; the sandbox ledger and every accounting
provider simulator are seeded with the same numbers, so an entry built from the simulated PMS
posts cleanly everywhere. Source: the BEX help centre's "Default ledger accounts".
"""

from __future__ import annotations

# (number, name); BEX's "uncategorised" accounts have no number (bexsync refuses to post them).
BEX_LEDGER_ACCOUNTS: tuple[tuple[str | None, str], ...] = (
    ("1000", "Cash"),
    ("1010", "Bank suspense"),
    ("1020", "Card (PIN) suspense"),
    ("1030", "PSP suspense (BEX Payments)"),
    ("1040", "Safe suspense"),
    ("1300", "Reservations"),
    ("1310", "Channels"),
    ("1320", "POS suspense"),
    ("1600", "Owners"),
    ("1700", "Pre-invoiced turnover"),
    ("1800", "VAT payable low"),
    ("1810", "VAT payable high"),
    ("2010", "Clearances"),
    ("2020", "Paid by batch"),
    ("2030", "Vouchers in circulation"),
    ("2040", "Other administrations"),
    ("2050", "Advances"),
    ("2060", "Security deposits"),
    ("4300", "Security deposit damages"),
    ("4900", "Payment differences"),
    ("4910", "Cash differences"),
    ("8000", "Rent turnover"),
    ("8100", "POS turnover"),
    (None, "Uncategorized payments"),
    (None, "Uncategorized turnover"),
    (None, "Uncategorized expenses"),
)

# The accounting side: every numbered BEX account, plus the tourist tax account parks book it
# on (bexsync maps a BEX account to the provider account with the same number).
CHART: tuple[tuple[str, str], ...] = (
    *((number, name) for number, name in BEX_LEDGER_ACCOUNTS if number is not None),
    ("8200", "Tourist tax"),
)

# (code, name, rate in percent): BEX's VAT codes as an accounting ledger knows them.
VAT_CODES: tuple[tuple[str, str, str], ...] = (
    ("0", "VAT 0%", "0"),
    ("L", "VAT low 9%", "9"),
    ("H", "VAT high 21%", "21"),
    ("NONE", "No VAT", "0"),
)
