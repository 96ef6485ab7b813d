"""Parse BEX JSON:API documents into ``providers.bex.models`` records, strictly and fast.

Every malformed input (not JSON, no ``data``, wrong types, bad dates or amounts, a transaction
pointing at an unknown ledger account or outside the requested period) raises
``PmsDataError`` naming the record (type and id) and the field, so a sysadmin can report it to
Booking Experts; nothing here may crash with a bare KeyError.

Journal pages are the hot path (a busy park has a million lines a month). A page is decoded
with msgspec straight into small typed records holding only the fields bexsync reads (no dict
per object, nothing for the garbage collector to track): about 2.5x cheaper than building and
freeing the full dict tree. A tight loop with date caches turns those into
``JournalTransaction`` records. Whenever a page does not fit that shape, or the loop trips, the
page is decoded again with orjson and walked slowly, to say exactly which record and field is
wrong.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple, NoReturn

import msgspec
import orjson

from providers.bex import mapping as m
from providers.bex.models import JournalTransaction, LedgerAccount, PmsAdministration, VatCode
from providers.errors import ProviderError
from providers.redact import redact

ZERO = Decimal("0.00")


class PmsDataError(ProviderError):
    """The PMS answered, but with data bexsync cannot trust (kind ``rejected``, provider bex)."""

    def __init__(self, message: str) -> None:
        super().__init__(m.PROVIDER, "rejected", redact(message))


@dataclass(frozen=True, slots=True)
class PmsSubscription:
    """The app's installation: which administrations it was granted."""

    id: str
    administration_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class VatTariff:
    """A VAT rate valid over a date range, for one VAT code."""

    id: str
    vat_code_id: str | None
    percentage: Decimal
    start_date: date | None
    end_date: date | None


# -- documents ------------------------------------------------------------------------------


def load_document(content: bytes | str, what: str) -> dict[str, Any]:
    """Decode a JSON:API document; ``what`` names it in errors ("ledger accounts page 2")."""
    try:
        doc = orjson.loads(content)
    except (ValueError, UnicodeDecodeError):
        raise PmsDataError(f"the PMS sent {what} that is not valid JSON") from None
    if not isinstance(doc, dict):
        raise PmsDataError(f"the PMS sent {what} that is not a JSON:API document (not an object)")
    if "data" not in doc:
        if "errors" in doc:
            raise PmsDataError(f"the PMS sent {what} with errors instead of data")
        raise PmsDataError(f"the PMS sent {what} without 'data'")
    return doc


def data_list(doc: dict[str, Any], what: str) -> list[Any]:
    data = doc["data"]
    if not isinstance(data, list):
        raise PmsDataError(f"the PMS sent {what} whose 'data' is not a list")
    return data


def next_link(doc: dict[str, Any], what: str) -> str | None:
    """``links.next`` (None on the last page); a links object of the wrong shape is an error."""
    links = doc.get("links")
    if links is None:
        return None
    if not isinstance(links, dict):
        raise PmsDataError(f"the PMS sent {what} whose 'links' is not an object")
    nxt = links.get("next")
    if nxt is None or nxt == "":
        return None
    if not isinstance(nxt, str):
        raise PmsDataError(f"the PMS sent {what} whose links.next is not a URL")
    return nxt


def total_records(meta: Any) -> int | None:
    """``meta.pagination.total_records`` when the PMS sends it, else None."""
    if isinstance(meta, dict):
        pagination = meta.get(m.META_PAGINATION)
        if isinstance(pagination, dict):
            total = pagination.get(m.META_TOTAL_RECORDS)
            if isinstance(total, int) and not isinstance(total, bool):
                return total
    return None


class Page(NamedTuple):
    """One decoded page: its records (as decoded), ``links.next``, whether it had links, and
    the collection's size the PMS announced with it (to notice data changing between pages)."""

    body: Any
    next: str | None
    has_links: bool
    size: int  # how many records it holds
    content: bytes | str
    total: int | None = None


def decode_page(content: bytes | str, what: str) -> Page:
    """Decode any collection page with orjson; ``body`` is the whole document."""
    doc = load_document(content, what)
    data = data_list(doc, what)
    total = total_records(doc.get("meta"))
    return Page(doc, next_link(doc, what), "links" in doc, len(data), content, total)


def _label(rec: Any, expected_type: str, index: int) -> str:
    if isinstance(rec, dict):
        rid = rec.get("id")
        if isinstance(rid, str | int) and not isinstance(rid, bool):
            return f"{expected_type} {rid}"
    return f"{expected_type} #{index + 1} of the page"


class _Record:
    """Checked access to one resource object, with errors that name it and the field."""

    __slots__ = ("attrs", "id", "label", "rels")

    def __init__(self, rec: Any, expected_type: str, index: int) -> None:
        self.label = _label(rec, expected_type, index)
        if not isinstance(rec, dict):
            self.fail("record", "is not an object")
        rid = rec.get("id")
        if isinstance(rid, int) and not isinstance(rid, bool):
            rid = str(rid)
        if not isinstance(rid, str) or not rid:
            self.fail("id", "is missing or not a string")
        self.id: str = rid
        rtype = rec.get("type")
        if rtype != expected_type:
            self.fail("type", f"is {rtype!r}, expected {expected_type!r}")
        attrs = rec.get("attributes", {})
        if not isinstance(attrs, dict):
            self.fail("attributes", "is not an object")
        rels = rec.get("relationships", {})
        if rels is None:
            rels = {}
        if not isinstance(rels, dict):
            self.fail("relationships", "is not an object")
        self.attrs: dict[str, Any] = attrs
        self.rels: dict[str, Any] = rels

    def fail(self, field: str, problem: str) -> NoReturn:
        raise PmsDataError(f"the PMS sent an invalid {self.label}: {field} {problem}")

    def text(self, name: str, *, required: bool = True, default: str | None = None) -> str | None:
        value = self.attrs.get(name)
        if value is None:
            if required and default is None:
                self.fail(f"attributes.{name}", "is missing")
            return default
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)  # a number sent as a JSON number is still a number
        if not isinstance(value, str):
            self.fail(f"attributes.{name}", f"is not a string ({_short(value)})")
        return value

    def amount(self, name: str, *, required: bool = True) -> Decimal | None:
        value = self.attrs.get(name)
        if value is None:
            if required:
                self.fail(f"attributes.{name}", "is missing")
            return None
        try:
            return parse_amount(value)
        except (TypeError, ValueError, InvalidOperation):
            self.fail(f"attributes.{name}", f"is not an amount ({_short(value)})")
        raise AssertionError  # unreachable: fail() raises

    def day(self, name: str, *, required: bool = True) -> date | None:
        value = self.attrs.get(name)
        if value is None:
            if required:
                self.fail(f"attributes.{name}", "is missing")
            return None
        try:
            return parse_date(value)
        except (TypeError, ValueError):
            self.fail(f"attributes.{name}", f"is not a date YYYY-MM-DD ({_short(value)})")
        raise AssertionError

    def rel_id(
        self, name: str, expected_type: str, *, required: bool, strict: bool = False
    ) -> str | None:
        rel = self.rels.get(name)
        if rel is None:
            if required:
                self.fail(f"relationships.{name}", "is missing")
            return None
        if not isinstance(rel, dict) or "data" not in rel:
            self.fail(f"relationships.{name}", "has no 'data'")
        data = rel["data"]
        if data is None:
            if required:
                self.fail(f"relationships.{name}", "is empty")
            return None
        if not isinstance(data, dict):
            self.fail(f"relationships.{name}.data", "is not a resource identifier")
        rid = data.get("id")
        if not strict and isinstance(rid, int) and not isinstance(rid, bool):
            rid = str(rid)
        if not isinstance(rid, str) or not rid:
            self.fail(f"relationships.{name}.data.id", "is missing or not a string")
        if data.get("type") not in (None, expected_type):
            self.fail(f"relationships.{name}.data.type", f"is {data.get('type')!r}")
        return rid

    def rel_ids(self, name: str) -> list[str]:
        rel = self.rels.get(name)
        if rel is None:
            return []
        data = rel.get("data") if isinstance(rel, dict) else None
        if not isinstance(data, list):
            self.fail(f"relationships.{name}.data", "is not a list")
        out: list[str] = []
        for i, item in enumerate(data):
            rid = item.get("id") if isinstance(item, dict) else None
            if isinstance(rid, int) and not isinstance(rid, bool):
                rid = str(rid)
            if not isinstance(rid, str) or not rid:
                self.fail(f"relationships.{name}.data[{i}].id", "is missing or not a string")
            out.append(rid)
        return out


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_amount(value: Any) -> Decimal:
    """A finite decimal from a decimal string (or a JSON number, via its text, never a float)."""
    if value.__class__ is str or (isinstance(value, int) and not isinstance(value, bool)):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    else:
        raise TypeError("not an amount")
    if not result.is_finite():
        raise ValueError("not a finite amount")
    return result


def parse_date(value: Any) -> date:
    if value.__class__ is not str or len(value) != 10 or value[4] != "-" or value[7] != "-":
        raise ValueError("not YYYY-MM-DD")
    return date.fromisoformat(value)


# -- simple resources -----------------------------------------------------------------------


def parse_subscription(doc: dict[str, Any]) -> PmsSubscription:
    data = doc["data"]
    rec = _Record(data, m.TYPE_SUBSCRIPTION, 0)
    return PmsSubscription(rec.id, tuple(rec.rel_ids(m.SUBSCRIPTION_ADMINISTRATIONS_REL)))


def parse_administration(data: Any, index: int = 0) -> PmsAdministration:
    rec = _Record(data, m.TYPE_ADMINISTRATION, index)
    return PmsAdministration(
        id=rec.id,
        number=rec.text(m.ADMIN_NUMBER, default=rec.id) or rec.id,
        name=rec.text(m.ADMIN_NAME) or "",
        currency=rec.text(m.ADMIN_CURRENCY, default=m.DEFAULT_CURRENCY) or m.DEFAULT_CURRENCY,
        timezone=rec.text(m.ADMIN_TIMEZONE, default=m.DEFAULT_TIMEZONE) or m.DEFAULT_TIMEZONE,
    )


def parse_administrations(doc: dict[str, Any], what: str) -> list[PmsAdministration]:
    return [parse_administration(r, i) for i, r in enumerate(data_list(doc, what))]


def parse_ledger_accounts(doc: dict[str, Any], what: str) -> list[LedgerAccount]:
    out = []
    for i, raw in enumerate(data_list(doc, what)):
        rec = _Record(raw, m.TYPE_LEDGER_ACCOUNT, i)
        number = rec.text(m.LEDGER_NUMBER, required=False)
        out.append(
            LedgerAccount(id=rec.id, number=number or None, name=rec.text(m.LEDGER_NAME) or "")
        )
    return out


def parse_vat_codes(doc: dict[str, Any], what: str) -> list[VatCode]:
    out = []
    for i, raw in enumerate(data_list(doc, what)):
        rec = _Record(raw, m.TYPE_VAT_CODE, i)
        code = rec.text(m.VAT_CODE) or ""
        out.append(
            VatCode(
                id=rec.id,
                code=code,
                name=rec.text(m.VAT_NAME, required=False) or code,
                percentage=rec.amount(m.VAT_PERCENTAGE) or ZERO,
            )
        )
    return out


def parse_vat_tariffs(doc: dict[str, Any], what: str) -> list[VatTariff]:
    out = []
    for i, raw in enumerate(data_list(doc, what)):
        rec = _Record(raw, m.TYPE_VAT_TARIFF, i)
        out.append(
            VatTariff(
                id=rec.id,
                vat_code_id=rec.rel_id(m.VAT_TARIFF_VAT_CODE_REL, m.TYPE_VAT_CODE, required=False),
                percentage=rec.amount(m.VAT_TARIFF_PERCENTAGE) or ZERO,
                start_date=rec.day(m.VAT_TARIFF_START, required=False),
                end_date=rec.day(m.VAT_TARIFF_END, required=False),
            )
        )
    return out


# -- journal transactions (hot path) --------------------------------------------------------


def _fast_constructor() -> Callable[..., JournalTransaction]:
    """Build JournalTransaction records without the frozen dataclass's per-field checks.

    A frozen dataclass assigns each field through ``object.__setattr__``; filling the slots
    through their descriptors is 2x faster and yields an equal object. Falls back to the normal
    constructor if the model's layout is not the one this was written for.
    """
    fields = (
        "id",
        "date",
        "ledger_account_id",
        "vat_code_id",
        "debit",
        "credit",
        "description",
        "invoice_id",
        "invoice_number",
        "invoice_date",
    )
    if getattr(JournalTransaction, "__slots__", None) != fields:
        return JournalTransaction
    setters = [getattr(JournalTransaction, f).__set__ for f in fields]
    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9 = setters
    new = object.__new__
    cls = JournalTransaction

    def make(
        tid: str,
        day: date,
        ledger: str,
        vat: str | None,
        debit: Decimal,
        credit: Decimal,
        description: str,
        invoice_id: str | None,
        invoice_number: str | None,
        invoice_date: date | None,
    ) -> JournalTransaction:
        obj = new(cls)
        s0(obj, tid)
        s1(obj, day)
        s2(obj, ledger)
        s3(obj, vat)
        s4(obj, debit)
        s5(obj, credit)
        s6(obj, description)
        s7(obj, invoice_id)
        s8(obj, invoice_number)
        s9(obj, invoice_date)
        return obj

    return make


make_transaction = _fast_constructor()


def _typed_journal_decoder() -> Any:
    """A msgspec decoder for journal pages that keeps only the fields the parser reads.

    Wire names come from ``mapping``; unknown fields are skipped. ``gc=False``: the records are
    acyclic, so the collector never needs to track them.
    """
    field = msgspec.field

    def struct(name: str, fields: list[Any]) -> Any:
        return msgspec.defstruct(name, fields, gc=False)

    ref = struct("BexRef", [("id", str)])
    rel = struct("BexRel", [("data", ref | None, None)])
    opt_str = str | None
    amounts = (
        [("amount", str, field(name=m.TXN_AMOUNT))]
        if m.TXN_AMOUNT_MODE == "signed"
        else [("debit", str, field(name=m.TXN_DEBIT)), ("credit", str, field(name=m.TXN_CREDIT))]
    )
    attrs = struct(
        "BexTxnAttributes",
        [
            ("date", str, field(name=m.TXN_DATE)),
            *amounts,
            ("description", opt_str, field(default=None, name=m.TXN_DESCRIPTION)),
            ("invoice_number", opt_str, field(default=None, name=m.TXN_INVOICE_NUMBER)),
            ("invoice_date", opt_str, field(default=None, name=m.TXN_INVOICE_DATE)),
        ],
    )
    rels = struct(
        "BexTxnRelationships",
        [
            ("ledger", rel, field(name=m.TXN_LEDGER_ACCOUNT_REL)),
            ("vat", rel | None, field(default=None, name=m.TXN_VAT_CODE_REL)),
            ("invoice", rel | None, field(default=None, name=m.TXN_INVOICE_REL)),
        ],
    )
    record = struct(
        "BexTxn",
        [("id", str), ("type", str), ("attributes", attrs), ("relationships", rels)],
    )
    # links: UNSET when absent (then the client falls back to page numbers), checked later.
    page = struct(
        "BexTxnPage",
        # ``record`` is a type built at run time (its field names come from the mapping).
        [("data", list[record]), ("links", Any, msgspec.UNSET), ("meta", Any, None)],  # type: ignore[valid-type]
    )
    return msgspec.json.Decoder(page)


_JOURNAL_DECODER = _typed_journal_decoder()
_DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError)


class _Bad(Exception):
    """The fast loop saw something wrong; the slow walk says what."""


_FAST_ERRORS = (KeyError, TypeError, ValueError, AttributeError, InvalidOperation, _Bad)


class JournalPageParser:
    """Parse journal-transaction pages of one administration and one period.

    ``ledger_account_ids`` (and ``vat_code_ids`` when given) are the administration's known
    ids: a transaction pointing elsewhere is refused. A transaction dated outside
    ``start..end`` means the PMS ignored the date filter (wrong filter name?), which would
    silently inflate an entry, so it is refused too. The date cache lives as long as the parser.
    """

    def __init__(
        self,
        ledger_account_ids: Collection[str],
        vat_code_ids: Collection[str] | None = None,
        *,
        start: date | None = None,
        end: date | None = None,
    ) -> None:
        self.accounts = frozenset(ledger_account_ids)
        self.vat_codes = frozenset(vat_code_ids) if vat_code_ids is not None else None
        self.start = start
        self.end = end
        self._dates: dict[str, date] = {}  # posting dates, already checked against the period
        self._any_dates: dict[str, date] = {}  # invoice dates, any value
        self.signed = m.TXN_AMOUNT_MODE == "signed"

    def _posting_date(self, text: Any) -> date:
        day = parse_date(text)
        if (self.start is not None and day < self.start) or (
            self.end is not None and day > self.end
        ):
            raise _Bad
        self._dates[text] = day
        return day

    def _invoice_date(self, text: Any) -> date:
        day = parse_date(text)
        self._any_dates[text] = day
        return day

    def parse(self, doc: dict[str, Any], what: str = "a journal transactions page") -> list[Any]:
        data = data_list(doc, what)
        try:
            return self._fast(data)
        except _FAST_ERRORS:
            pass
        try:
            for index, raw in enumerate(data):
                self.check(raw, index)
        except PmsDataError as exc:
            raise PmsDataError(f"{exc.message} (in {what})") from None
        raise PmsDataError(f"the PMS sent {what} that could not be read")  # pragma: no cover

    def decode(self, content: bytes | str, what: str) -> Page:
        """Decode a page for :meth:`records`: typed and lean.

        A page that does not fit the typed shape is decoded with orjson instead, so that
        :meth:`records` can name what is wrong with it.
        """
        try:
            doc = _JOURNAL_DECODER.decode(content)
        except _DECODE_ERRORS:
            return decode_page(content, what)
        links = doc.links
        has_links = links is not msgspec.UNSET
        nxt = next_link({"links": links}, what) if has_links else None
        total = total_records(doc.meta)
        return Page(doc.data, nxt, has_links, len(doc.data), content, total)

    def records(self, page: Page, what: str = "a journal transactions page") -> list[Any]:
        """The page's transactions; ``PmsDataError`` naming the record when one is malformed."""
        body = page.body
        if isinstance(body, dict):
            return self.parse(body, what)
        try:
            return self._fast_typed(body)
        except _FAST_ERRORS:
            pass
        return self.parse(load_document(page.content, what), what)

    def _fast_typed(self, data: list[Any]) -> list[JournalTransaction]:
        """``_fast`` over msgspec records: types are already checked, values are not."""
        out: list[JournalTransaction] = []
        append = out.append
        make = make_transaction
        dates_get = self._dates.get
        inv_dates_get = self._any_dates.get
        posting_date = self._posting_date
        invoice_date = self._invoice_date
        accounts = self.accounts
        vats = self.vat_codes
        signed = self.signed
        dec = Decimal
        zero = ZERO
        t_txn = m.TYPE_JOURNAL_TRANSACTION
        for rec in data:
            if rec.type != t_txn:
                raise _Bad
            attrs = rec.attributes
            rels = rec.relationships
            text = attrs.date
            day = dates_get(text) or posting_date(text)
            if signed:
                amount = dec(attrs.amount)
                if not amount.is_finite():
                    raise _Bad
                if amount >= 0:
                    debit, credit = amount, zero
                else:
                    debit, credit = zero, -amount
            else:
                raw = attrs.debit
                debit = zero if raw == "0.00" else dec(raw)
                raw = attrs.credit
                credit = zero if raw == "0.00" else dec(raw)
                if not (debit.is_finite() and credit.is_finite()):
                    raise _Bad
            ledger = rels.ledger.data.id
            if ledger not in accounts:
                raise _Bad
            rel = rels.vat
            vat = None if rel is None or rel.data is None else rel.data.id
            if vat is not None and vats is not None and vat not in vats:
                raise _Bad
            rel = rels.invoice
            inv = None if rel is None or rel.data is None else rel.data.id
            text = attrs.invoice_date
            inv_day = None if text is None else (inv_dates_get(text) or invoice_date(text))
            append(
                make(
                    rec.id,
                    day,
                    ledger,
                    vat,
                    debit,
                    credit,
                    attrs.description or "",
                    inv,
                    attrs.invoice_number,
                    inv_day,
                )
            )
        return out

    def _fast(self, data: list[Any]) -> list[JournalTransaction]:
        out: list[JournalTransaction] = []
        append = out.append
        make = make_transaction
        dates = self._dates
        dates_get = dates.get
        inv_dates_get = self._any_dates.get
        posting_date = self._posting_date
        invoice_date = self._invoice_date
        accounts = self.accounts
        vats = self.vat_codes
        signed = self.signed
        dec = Decimal
        zero = ZERO
        str_ = str
        t_txn = m.TYPE_JOURNAL_TRANSACTION
        a_date, a_debit, a_credit, a_amount = m.TXN_DATE, m.TXN_DEBIT, m.TXN_CREDIT, m.TXN_AMOUNT
        a_desc, a_inv_no, a_inv_date = m.TXN_DESCRIPTION, m.TXN_INVOICE_NUMBER, m.TXN_INVOICE_DATE
        r_ledger, r_vat, r_inv = m.TXN_LEDGER_ACCOUNT_REL, m.TXN_VAT_CODE_REL, m.TXN_INVOICE_REL
        for rec in data:
            if rec["type"] != t_txn:
                raise _Bad
            tid = rec["id"]
            if tid.__class__ is not str_:
                raise _Bad
            attrs = rec["attributes"]
            rels = rec["relationships"]
            text = attrs[a_date]
            day = dates_get(text) or posting_date(text)
            if signed:
                raw = attrs[a_amount]
                if raw.__class__ is not str_:
                    raise _Bad
                amount = dec(raw)
                if not amount.is_finite():
                    raise _Bad
                if amount >= 0:
                    debit, credit = amount, zero
                else:
                    debit, credit = zero, -amount
            else:
                raw = attrs[a_debit]
                if raw.__class__ is not str_:
                    raise _Bad
                debit = zero if raw == "0.00" else dec(raw)
                raw = attrs[a_credit]
                if raw.__class__ is not str_:
                    raise _Bad
                credit = zero if raw == "0.00" else dec(raw)
                if not (debit.is_finite() and credit.is_finite()):
                    raise _Bad
            ledger = rels[r_ledger]["data"]["id"]
            if ledger not in accounts:
                raise _Bad
            rel = rels.get(r_vat)
            vat = rel["data"] if rel is not None else None
            if vat is not None:
                vat = vat["id"]
                if vat.__class__ is not str_ or (vats is not None and vat not in vats):
                    raise _Bad
            rel = rels.get(r_inv)
            inv = rel["data"] if rel is not None else None
            if inv is not None:
                inv = inv["id"]
                if inv.__class__ is not str_:
                    raise _Bad
            desc = attrs.get(a_desc) or ""
            if desc.__class__ is not str_:
                raise _Bad
            inv_no = attrs.get(a_inv_no)
            if inv_no is not None and inv_no.__class__ is not str_:
                raise _Bad
            text = attrs.get(a_inv_date)
            inv_day = None if text is None else (inv_dates_get(text) or invoice_date(text))
            append(make(tid, day, ledger, vat, debit, credit, desc, inv, inv_no, inv_day))
        return out

    def check(self, raw: Any, index: int) -> JournalTransaction:
        """Slowly validate one record; raise ``PmsDataError`` naming it and the field."""
        rec = _Record(raw, m.TYPE_JOURNAL_TRANSACTION, index)
        if not isinstance(raw.get("id"), str):
            rec.fail("id", "is not a string")
        if not isinstance(raw.get("attributes"), dict):
            rec.fail("attributes", "is missing")
        if not isinstance(raw.get("relationships"), dict):
            rec.fail("relationships", "is missing")
        day = rec.day(m.TXN_DATE)
        assert day is not None
        if (self.start is not None and day < self.start) or (
            self.end is not None and day > self.end
        ):
            rec.fail(
                f"attributes.{m.TXN_DATE}",
                f"{day.isoformat()} is outside the requested period "
                f"{self.start}..{self.end} (did the PMS ignore the date filter "
                f"{m.TXN_DATE_FILTER}?)",
            )
        names = (m.TXN_AMOUNT,) if self.signed else (m.TXN_DEBIT, m.TXN_CREDIT)
        amounts = []
        for name in names:
            value = rec.attrs.get(name)
            if not isinstance(value, str):
                rec.fail(f"attributes.{name}", f"is not a decimal string ({_short(value)})")
            amounts.append(rec.amount(name))
        ledger = rec.rel_id(
            m.TXN_LEDGER_ACCOUNT_REL, m.TYPE_LEDGER_ACCOUNT, required=True, strict=True
        )
        if ledger not in self.accounts:
            rec.fail(
                f"relationships.{m.TXN_LEDGER_ACCOUNT_REL}",
                f"refers to unknown {m.TYPE_LEDGER_ACCOUNT} {ledger}",
            )
        vat = rec.rel_id(m.TXN_VAT_CODE_REL, m.TYPE_VAT_CODE, required=False, strict=True)
        if vat is not None and self.vat_codes is not None and vat not in self.vat_codes:
            rec.fail(f"relationships.{m.TXN_VAT_CODE_REL}", f"refers to unknown vat_code {vat}")
        inv = rec.rel_id(m.TXN_INVOICE_REL, m.TYPE_INVOICE, required=False, strict=True)
        desc = rec.attrs.get(m.TXN_DESCRIPTION)
        if desc is not None and not isinstance(desc, str):
            rec.fail(f"attributes.{m.TXN_DESCRIPTION}", "is not a string")
        inv_no = rec.attrs.get(m.TXN_INVOICE_NUMBER)
        if inv_no is not None and not isinstance(inv_no, str):
            rec.fail(f"attributes.{m.TXN_INVOICE_NUMBER}", "is not a string")
        inv_day = rec.day(m.TXN_INVOICE_DATE, required=False)
        if self.signed:
            amount = amounts[0]
            assert amount is not None
            debit, credit = (amount, ZERO) if amount >= 0 else (ZERO, -amount)
        else:
            debit, credit = amounts[0] or ZERO, amounts[1] or ZERO
        return JournalTransaction(
            rec.id, day, ledger or "", vat, debit, credit, desc or "", inv, inv_no, inv_day
        )


def parse_journal_transactions(
    doc: dict[str, Any],
    ledger_account_ids: Iterable[str],
    *,
    start: date | None = None,
    end: date | None = None,
) -> list[JournalTransaction]:
    """One-shot convenience around ``JournalPageParser`` (tests, small pages)."""
    return JournalPageParser(list(ledger_account_ids), start=start, end=end).parse(doc)
