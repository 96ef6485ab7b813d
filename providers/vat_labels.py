"""BEX VAT codes for providers whose entry lines carry no tax code.

Those providers take VAT as explicit lines (BEX posts it on its VAT payable accounts), so the
BEX codes are accepted as they are and only named in the line text; the engine's tax-code check
then passes for them and for nothing else.
"""

from __future__ import annotations

from decimal import Decimal

from providers.base import TaxCode

NO_VAT = "NONE"
FALLBACK_TEXT = "BEX PMS"


def label_tax_codes(where: str = "line label") -> tuple[TaxCode, ...]:
    """The BEX codes, each saying where the provider names it (``line description``)."""
    return (
        TaxCode("0", f"VAT 0% (named in the {where})", Decimal("0")),
        TaxCode("L", f"VAT low (named in the {where})"),
        TaxCode("H", f"VAT high (named in the {where})"),
        TaxCode(NO_VAT, "No VAT"),
    )


LABEL_TAX_CODES: tuple[TaxCode, ...] = label_tax_codes()


def line_label(description: str, vat_code: str | None, tag: str = "VAT") -> str:
    """A line's text with its VAT code named (``Rent [VAT H]``); ``tag`` is the provider's word."""
    label = description or FALLBACK_TEXT
    if vat_code and vat_code != NO_VAT:
        label = f"{label} [{tag} {vat_code}]"
    return label
