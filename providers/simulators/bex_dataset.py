"""The simulated BEX holiday-park group: deterministic, lazy, index-addressable journal data.

Each day of each administration is a fixed sequence of blocks of *events* (a stay, a payment,
a POS sale, a back-dated correction, an uncategorised invoice line, parts of stays split over a
month end); every event has a fixed number of lines that balance among themselves. The counts
per day come from a hash of (seed, administration, day), so line N of a date range is found
by arithmetic, without generating the lines before it: a page of a million-line month costs
the same as the first page, and nothing is held in memory.

Journal pages are rendered straight to JSON text with one ``str.format`` per event, because a
million lines must not cost a million dicts on the serving side either.
"""

from __future__ import annotations

import calendar
import dataclasses
import json
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from operator import itemgetter
from typing import NamedTuple

from providers.bex import mapping as m
from providers.chart import BEX_LEDGER_ACCOUNTS

# -- the group's chart of accounts: BEX's defaults (providers.chart) ---------------------------

LEDGER_ACCOUNTS = BEX_LEDGER_ACCOUNTS
_INDEX = {number or name: i for i, (number, name) in enumerate(LEDGER_ACCOUNTS)}
A_CASH, A_CARD, A_PSP = _INDEX["1000"], _INDEX["1020"], _INDEX["1030"]
A_RESERVATIONS, A_POS, A_PREINVOICED = _INDEX["1300"], _INDEX["1320"], _INDEX["1700"]
A_VAT_LOW, A_VAT_HIGH = _INDEX["1800"], _INDEX["1810"]
A_RENT, A_POS_TURNOVER = _INDEX["8000"], _INDEX["8100"]
A_UNCATEGORISED = _INDEX["Uncategorized turnover"]

# (code, name, percentage, tariffs: (percentage, start, end))
VAT_CODES: tuple[tuple[str, str, str, tuple[tuple[str, str, str | None], ...]], ...] = (
    ("0", "No VAT", "0.00", (("0.00", "2000-01-01", None),)),
    ("L", "Low rate", "9.00", (("6.00", "2000-01-01", "2018-12-31"), ("9.00", "2019-01-01", None))),
    ("H", "High rate", "21.00", (("21.00", "2012-10-01", None),)),
)
V_LOW, V_HIGH = 1, 2


@dataclass(frozen=True)
class AdministrationSpec:
    """One administration of the simulated group.

    ``uncategorised``: a few days carry a line on "Uncategorized turnover" (no ledger number,
    which bexsync must refuse to post). ``granted``: part of the app's subscription.
    """

    id: str
    number: str
    name: str
    currency: str = "EUR"
    timezone: str = "Europe/Amsterdam"
    uncategorised: bool = False
    granted: bool = True


DEFAULT_ADMINISTRATIONS: tuple[AdministrationSpec, ...] = (
    AdministrationSpec("4101", "101", "Holiday Park De Veluwe"),
    AdministrationSpec("4102", "102", "Holiday Park Zeeuwse Duinen"),
    AdministrationSpec("4103", "103", "Holiday Park Limburgse Heuvels", uncategorised=True),
)

# -- events ---------------------------------------------------------------------------------

K_STAY, K_PAYMENT, K_POS, K_CORRECTION, K_UNCATEGORISED, K_SPLIT = 1, 2, 3, 4, 5, 6


class LineSpec(NamedTuple):
    ledger: int  # index into LEDGER_ACCOUNTS
    vat: int | None  # index into VAT_CODES
    debit: bool
    amount: int  # index into the event's amounts
    label: str


class EventSpec(NamedTuple):
    code: int  # unique per spec (renderer cache key)
    kind: int
    lines: tuple[LineSpec, ...]


def _spec(code: int, kind: int, *lines: tuple[int, int | None, bool, int, str]) -> EventSpec:
    return EventSpec(code, kind, tuple(LineSpec(*line) for line in lines))


D, C = True, False
# amounts: (gross, net, vat) unless said otherwise
STAY = _spec(
    1,
    K_STAY,
    (A_RESERVATIONS, None, D, 0, "Stay"),
    (A_RENT, V_LOW, C, 1, "Rent"),
    (A_VAT_LOW, V_LOW, C, 2, "VAT low"),
)
PAYMENTS = tuple(  # amounts: (amount,)
    _spec(
        2 + i, K_PAYMENT, (account, None, D, 0, "Payment"), (A_RESERVATIONS, None, C, 0, "Payment")
    )
    for i, account in enumerate((A_PSP, A_PSP, A_CARD, A_CASH))
)
POS = _spec(
    6,
    K_POS,
    (A_POS, None, D, 0, "Receipt"),
    (A_POS_TURNOVER, V_HIGH, C, 1, "Shop"),
    (A_VAT_HIGH, V_HIGH, C, 2, "VAT high"),
)
CORRECTION = _spec(
    7,
    K_CORRECTION,
    (A_RENT, V_LOW, D, 1, "Correction"),
    (A_VAT_LOW, V_LOW, D, 2, "Correction VAT"),
    (A_RESERVATIONS, None, C, 0, "Correction"),
)
UNCATEGORISED = _spec(  # amounts: (amount,)
    8,
    K_UNCATEGORISED,
    (A_RESERVATIONS, None, D, 0, "Invoice line without ledger account"),
    (A_UNCATEGORISED, None, C, 0, "Invoice line without ledger account"),
)
SPLIT_INVOICE = _spec(  # invoiced at confirmation: turnover waits on 1700 until realised
    9,
    K_SPLIT,
    (A_RESERVATIONS, None, D, 0, "Stay"),
    (A_PREINVOICED, None, C, 1, "Pre-invoiced"),
    (A_VAT_LOW, V_LOW, C, 2, "VAT low"),
)
SPLIT_REALISED = _spec(  # amounts: (net of the nights realised,)
    10, K_SPLIT, (A_PREINVOICED, None, D, 0, "Realised"), (A_RENT, V_LOW, C, 0, "Rent")
)


Day = date  # a field below is named ``date``


class Line(NamedTuple):
    """One journal line as the simulator serves it (amounts in cents)."""

    id: str
    date: date
    ledger: int
    vat: int | None
    debit: int
    credit: int
    description: str
    invoice: str | None  # the invoice's JSON:API id
    invoice_number: str | None
    invoice_date: Day | None
    created: Day | None  # set on back-dated lines: created after their posting date


class Event(NamedTuple):
    spec: EventSpec
    prefix: str  # transaction ids are prefix + line index
    day: date
    amounts: tuple[int, ...]
    ref: str
    invoice: str | None
    invoice_number: str | None
    invoice_date: date | None
    created: date | None

    def lines(self, lo: int = 0, hi: int | None = None) -> list[Line]:
        out = []
        specs = self.spec.lines
        for i in range(lo, len(specs) if hi is None else hi):
            s = specs[i]
            amount = self.amounts[s.amount]
            out.append(
                Line(
                    f"{self.prefix}{i}",
                    self.day,
                    s.ledger,
                    s.vat,
                    amount if s.debit else 0,
                    0 if s.debit else amount,
                    f"{s.label} {self.ref}",
                    self.invoice,
                    self.invoice_number,
                    self.invoice_date,
                    self.created,
                )
            )
        return out


_MASK = (1 << 64) - 1


def _mix(*parts: int) -> int:
    """A 64-bit hash of integers (splitmix64 finaliser): cheap, deterministic randomness."""
    x = 0
    for p in parts:
        x = ((x ^ (p & _MASK)) * 0x100000001B3 + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _mix1(x: int) -> int:
    """The splitmix64 finaliser alone: per-event randomness from a per-day base."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def money(cents: int) -> str:
    return "%d.%02d" % divmod(cents, 100)  # noqa: UP031 - the fastest form, on the hot path


def _vat(net: int, rate: int) -> int:
    return (net * rate + 50) // 100


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


class _SplitStay(NamedTuple):
    """A stay across month end ``month_end``, its turnover distributed over the two months."""

    key: int
    invoice_date: date
    month_end: date
    departure: date
    net_first: int
    net_second: int
    vat: int


class _DayPlan:
    """How many events of each block a day has (and where each block ends)."""

    __slots__ = (
        "base",
        "blocks",
        "bounds",
        "corrections",
        "prefixes",
        "split_parts",
        "stamp",
        "total",
    )

    def __init__(
        self,
        counts: tuple[int, int, int, int],
        corrections: tuple[int, ...],
        split_parts: tuple[tuple[_SplitStay, int], ...],
        *,
        base: int,
        prefixes: dict[int, str],
        stamp: str,
    ) -> None:
        stays, payments, pos, uncategorised = counts
        self.base = base  # per-day hash base; event e of kind k hashes base + k * 2**40 + e
        self.prefixes = prefixes  # transaction id prefix per kind (administration, day, kind)
        self.stamp = stamp  # YYMMDD, for invoice numbers
        self.corrections = corrections
        self.split_parts = split_parts
        # (kind, lines per event, events)
        self.blocks = (
            (K_STAY, 3, stays),
            (K_PAYMENT, 2, payments),
            (K_POS, 3, pos),
            (K_CORRECTION, 3, len(corrections)),
            (K_UNCATEGORISED, 2, uncategorised),
        )
        acc, bounds = 0, []
        for _, size, count in self.blocks:
            acc += size * count
            bounds.append(acc)
        acc += sum(3 if part == 0 else 2 for _, part in split_parts)
        bounds.append(acc)
        self.bounds = tuple(bounds)
        self.total = acc


class BexDataset:
    """The simulated group's data, deterministic from ``seed``.

    ``today`` is the last day with data (a date, or a callable for a daemon that runs past
    midnight); history starts ``history_days`` before the ``today`` given at construction.
    ``volume`` maps an administration id to a number of regular lines per day (bulk tests and
    benchmarks: 32,300 a day is a million a month); the others get a few dozen a day.
    """

    def __init__(
        self,
        seed: int,
        today: date | Callable[[], date],
        administrations: Sequence[AdministrationSpec] = DEFAULT_ADMINISTRATIONS,
        *,
        volume: Mapping[str, int] | None = None,
        history_days: int = 150,
        subscription_id: str = "sub-1",
    ) -> None:
        self.seed = seed
        self._today = today
        self.start = self.today - timedelta(days=history_days)
        self.administrations = tuple(administrations)
        self._admins = {a.id: a for a in self.administrations}
        self._admin_index = {a.id: i + 1 for i, a in enumerate(self.administrations)}
        self.volume = dict(volume or {})
        self.subscription_id = subscription_id
        self._plans: OrderedDict[tuple[str, date, date], _DayPlan] = OrderedDict()

    @property
    def today(self) -> date:
        return self._today() if callable(self._today) else self._today

    # -- static records -------------------------------------------------------------------
    def administration(self, admin_id: str) -> AdministrationSpec | None:
        return self._admins.get(admin_id)

    def granted(self) -> list[AdministrationSpec]:
        return [a for a in self.administrations if a.granted]

    def set_granted(self, admin_id: str, granted: bool) -> None:
        """A BEX user grants or removes the app's access to one administration: a removed one
        leaves the list and its own endpoints answer 404."""
        spec = dataclasses.replace(self._admins[admin_id], granted=granted)
        self._admins[admin_id] = spec
        self.administrations = tuple(spec if a.id == admin_id else a for a in self.administrations)

    @staticmethod
    def ledger_account_id(admin_id: str, index: int) -> str:
        return f"{admin_id}{index + 1:03d}"

    @staticmethod
    def vat_code_id(admin_id: str, index: int) -> str:
        return f"{admin_id}9{index:02d}"

    def ledger_accounts(self, admin_id: str) -> list[tuple[str, str | None, str]]:
        """(id, number, name) of the administration's ledger accounts."""
        return [
            (self.ledger_account_id(admin_id, i), number, name)
            for i, (number, name) in enumerate(LEDGER_ACCOUNTS)
        ]

    def vat_codes(self, admin_id: str) -> list[tuple[str, str, str, str]]:
        """(id, code, name, percentage) of the administration's VAT codes."""
        return [
            (self.vat_code_id(admin_id, i), code, name, pct)
            for i, (code, name, pct, _) in enumerate(VAT_CODES)
        ]

    def vat_tariffs(self, admin_id: str) -> list[tuple[str, str, str, str, str | None]]:
        """(id, vat code id, percentage, start, end) of the administration's VAT tariffs."""
        return [
            (f"{admin_id}8{i}{j}", self.vat_code_id(admin_id, i), pct, start, end)
            for i, (_, _, _, tariffs) in enumerate(VAT_CODES)
            for j, (pct, start, end) in enumerate(tariffs)
        ]

    # -- day plans ------------------------------------------------------------------------
    def _plan(self, admin_id: str, day: date) -> _DayPlan:
        key = (admin_id, day, self.today)  # back-dated lines appear as "today" moves on
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._make_plan(admin_id, day)
            if len(self._plans) > 4096:
                self._plans.popitem(last=False)
        return plan

    def _make_plan(self, admin_id: str, day: date) -> _DayPlan:
        a = self._admin_index[admin_id]
        o = day.toordinal()
        h = _mix(self.seed, a, o, 0)
        per_day = self.volume.get(admin_id)
        if per_day is None:
            stays, payments, pos = 3 + h % 6, 2 + (h >> 8) % 5, (h >> 16) % 4
        else:
            stays, pos = per_day * 45 // 300, per_day * 15 // 300
            rest = per_day - 3 * (stays + pos)
            if rest % 2:
                stays += 1
                rest -= 3
            payments = max(rest // 2, 0)
        today = self.today
        candidates = 1 if (h >> 24) % 4 == 0 else 0
        corrections = tuple(e for e in range(candidates) if self._created(a, o, e) <= today)
        uncategorised = 1 if self._admins[admin_id].uncategorised and (h >> 32) % 23 == 0 else 0
        return _DayPlan(
            (stays, payments, pos, uncategorised),
            corrections,
            self._split_parts(a, day),
            base=h,
            prefixes={k: f"{admin_id}{o:07d}{k}" for k in range(1, 7)},
            stamp=f"{day:%y%m%d}",
        )

    def _created(self, a: int, ordinal: int, event: int) -> date:
        lag = 1 + _mix(self.seed, a, ordinal, K_CORRECTION, event) % 10
        return date.fromordinal(ordinal + lag)

    def _split_stays(self, a: int, month_end: date) -> list[_SplitStay]:
        o = month_end.toordinal()
        stays = []
        for j in range(2 + _mix(self.seed, a, o, K_SPLIT) % 3):
            h = _mix(self.seed, a, o, K_SPLIT, j + 1)
            nights_first, nights_second = 1 + h % 4, 1 + (h >> 8) % 5
            arrival = month_end - timedelta(days=nights_first - 1)
            price = 6000 + (h >> 24) % 10000
            net_first, net_second = price * nights_first, price * nights_second
            stays.append(
                _SplitStay(
                    key=(month_end.year * 12 + month_end.month) % 100 * 100 + j,
                    invoice_date=arrival - timedelta(days=(h >> 16) % 20),
                    month_end=month_end,
                    departure=month_end + timedelta(days=nights_second + 1),
                    net_first=net_first,
                    net_second=net_second,
                    vat=_vat(net_first + net_second, 9),
                )
            )
        return stays

    def _split_parts(self, a: int, day: date) -> tuple[tuple[_SplitStay, int], ...]:
        # A stay keyed by month end M has lines between M-22 (invoice) and M+6 (departure).
        lo, hi = day - timedelta(days=7), day + timedelta(days=23)
        parts = []
        for month_end in sorted({_month_end(lo), _month_end(day), _month_end(hi)}):
            if not lo <= month_end <= hi:
                continue
            for stay in self._split_stays(a, month_end):
                for part, when in enumerate((stay.invoice_date, stay.month_end, stay.departure)):
                    if when == day:
                        parts.append((stay, part))
        return tuple(parts)

    # -- events ---------------------------------------------------------------------------
    def _event(self, admin_id: str, a: int, day: date, kind: int, e: int, plan: _DayPlan) -> Event:
        prefix = f"{plan.prefixes[kind]}{e:06d}"  # also the id of the event's own invoice
        amounts: tuple[int, ...]
        h = _mix1((plan.base + (kind << 40) + e) & _MASK)
        if kind == K_STAY:
            net = 4500 + h % 40000
            vat = _vat(net, 9)
            number = f"{admin_id}-{plan.stamp}-{e + 1:04d}"
            amounts = (net + vat, net, vat)
            return Event(STAY, prefix, day, amounts, f"R{e + 1:05d}", prefix, number, day, None)
        if kind == K_PAYMENT:
            spec = PAYMENTS[(h >> 20) % 4]
            amounts = (2000 + h % 80000,)
            return Event(spec, prefix, day, amounts, f"P{e + 1:05d}", None, None, None, None)
        if kind == K_POS:
            net = 300 + h % 6000
            vat = _vat(net, 21)
            amounts = (net + vat, net, vat)
            return Event(POS, prefix, day, amounts, f"POS{e + 1:05d}", None, None, None, None)
        if kind == K_CORRECTION:
            c = plan.corrections[e]
            net = 1000 + h % 8000
            vat = _vat(net, 9)
            created = self._created(a, day.toordinal(), c)
            number = f"{admin_id}-C{created:%y%m%d}-{c + 1:03d}"
            amounts = (net + vat, net, vat)
            ref = f"R{c + 1:05d}"
            return Event(CORRECTION, prefix, day, amounts, ref, prefix, number, created, created)
        # K_UNCATEGORISED
        number = f"{admin_id}-{plan.stamp}-U{e + 1:03d}"
        amounts = (500 + h % 5000,)
        ref = f"U{e + 1:03d}"
        return Event(UNCATEGORISED, prefix, day, amounts, ref, prefix, number, day, None)

    def _split_event(self, admin_id: str, day: date, stay: _SplitStay, part: int) -> Event:
        prefix = f"{admin_id}{day.toordinal():07d}{K_SPLIT}{stay.key * 10 + part:06d}"
        invoice = f"{admin_id}{stay.month_end.toordinal():07d}{K_SPLIT}{stay.key:06d}"
        number = f"{admin_id}-{stay.invoice_date:%y%m%d}-S{stay.key:04d}"
        ref = f"S{stay.key:04d} ({stay.month_end:%b} split)"
        if part == 0:
            net = stay.net_first + stay.net_second
            amounts: tuple[int, ...] = (net + stay.vat, net, stay.vat)
            spec = SPLIT_INVOICE
        else:
            amounts = (stay.net_first if part == 1 else stay.net_second,)
            spec = SPLIT_REALISED
        return Event(spec, prefix, day, amounts, ref, invoice, number, stay.invoice_date, None)

    # -- ranges ---------------------------------------------------------------------------
    def _clamp(self, start: date, end: date) -> tuple[date, date]:
        return max(start, self.start), min(end, self.today)

    def count(self, admin_id: str, start: date, end: date) -> int:
        """How many lines have a posting date in ``start..end`` (as visible today)."""
        start, end = self._clamp(start, end)
        total, day = 0, start
        while day <= end:
            total += self._plan(admin_id, day).total
            day += timedelta(days=1)
        return total

    def slices(
        self, admin_id: str, start: date, end: date, offset: int, limit: int
    ) -> Iterator[tuple[Event, int, int]]:
        """(event, first line, end line) covering lines ``offset .. offset+limit`` of the range,
        in (date, position) order: whole events, except possibly the first and the last."""
        start, end = self._clamp(start, end)
        a = self._admin_index[admin_id]
        day = start
        while day <= end and limit > 0:
            plan = self._plan(admin_id, day)
            if offset >= plan.total:
                offset -= plan.total
                day += timedelta(days=1)
                continue
            stop = min(plan.total, offset + limit)
            limit -= stop - offset
            begin = 0
            for (kind, size, count), block_end in zip(plan.blocks, plan.bounds, strict=False):
                if offset < block_end and begin < stop:
                    first = max(offset - begin, 0) // size
                    for e in range(first, count):
                        at = begin + e * size
                        if at >= stop:
                            break
                        event = self._event(admin_id, a, day, kind, e, plan)
                        yield event, max(offset - at, 0), min(size, stop - at)
                begin = block_end
            for stay, part in plan.split_parts:
                event = self._split_event(admin_id, day, stay, part)
                size = len(event.spec.lines)
                lo, hi = max(offset - begin, 0), min(size, stop - begin)
                if lo < hi:
                    yield event, lo, hi
                begin += size
            offset = 0
            day += timedelta(days=1)

    def lines(self, admin_id: str, start: date, end: date, offset: int, limit: int) -> list[Line]:
        """Lines ``offset .. offset+limit`` of the range, as the API would page them."""
        out: list[Line] = []
        for event, lo, hi in self.slices(admin_id, start, end, offset, limit):
            out.extend(event.lines(lo, hi))
        return out

    def all_lines(self, admin_id: str, start: date, end: date) -> list[Line]:
        """Every line of a (small) range: tests and the demo's own checks."""
        return self.lines(admin_id, start, end, 0, 10**9)


# -- JSON rendering -------------------------------------------------------------------------


def _braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


_Compiled = tuple[str, Callable[[tuple[str, ...]], tuple[str, ...]]]
_MAX_FIELDS = 10


def _compile(template: str) -> _Compiled:
    """A ``str.format`` template as a ``%`` template and the getter of its fields in order."""
    marked = template.format(*[f"\x00{i}\x00" for i in range(_MAX_FIELDS)])
    parts = marked.split("\x00")
    text = "%s".join(part.replace("%", "%%") for part in parts[0::2])
    return text, itemgetter(*[int(i) for i in parts[1::2]])


class TxnRenderer:
    """Journal events of one administration straight to JSON:API text.

    Per event spec a ``str.format`` template with fields {0} id prefix, {1} date, {2} ref,
    {3} invoice number (JSON), {4} invoice date (JSON), {5} created_at fragment, {6} invoice
    id, {7}.. amounts; compiled once into a ``%`` template plus an ``itemgetter`` that lays
    the fields out in order, which renders twice as fast as ``str.format``.
    """

    def __init__(self, dataset: BexDataset, admin_id: str) -> None:
        self.ledger_ids = [
            dataset.ledger_account_id(admin_id, i) for i in range(len(LEDGER_ACCOUNTS))
        ]
        self.vat_ids = [dataset.vat_code_id(admin_id, i) for i in range(len(VAT_CODES))]
        self.templates: dict[int, tuple[_Compiled, list[_Compiled]]] = {}
        self.dates: dict[date, str] = {}
        self.signed = m.TXN_AMOUNT_MODE == "signed"

    def _line_template(self, index: int, spec: LineSpec, invoiced: bool) -> str:
        q = json.dumps
        amount = f"{{{7 + spec.amount}}}"
        if self.signed:
            sign = "" if spec.debit else "-"
            amounts = _braces(q(m.TXN_AMOUNT)) + f':"{sign}{amount}"'
        else:
            debit, credit = (amount, "0.00") if spec.debit else ("0.00", amount)
            amounts = (
                _braces(q(m.TXN_DEBIT)) + f':"{debit}",' + _braces(q(m.TXN_CREDIT)) + f':"{credit}"'
            )
        vat = (
            {"data": None}
            if spec.vat is None
            else {"data": {"type": m.TYPE_VAT_CODE, "id": self.vat_ids[spec.vat]}}
        )
        relationships = {
            m.TXN_LEDGER_ACCOUNT_REL: {
                "data": {"type": m.TYPE_LEDGER_ACCOUNT, "id": self.ledger_ids[spec.ledger]}
            },
            m.TXN_VAT_CODE_REL: vat,
            m.TXN_INVOICE_REL: {"data": {"type": m.TYPE_INVOICE, "id": "@INVOICE@"}}
            if invoiced
            else {"data": None},
        }
        return (
            '{{"id":"{0}' + str(index) + '","type":' + _braces(q(m.TYPE_JOURNAL_TRANSACTION))
            + ',"attributes":{{' + _braces(q(m.TXN_DATE)) + ':"{1}",' + amounts + ","
            + _braces(q(m.TXN_DESCRIPTION)) + ':"' + _braces(spec.label) + ' {2}",'
            + _braces(q(m.TXN_INVOICE_NUMBER)) + ":{3}," + _braces(q(m.TXN_INVOICE_DATE))
            + ":{4}{5}}},"
            + '"relationships":'
            + _braces(json.dumps(relationships, separators=(",", ":"))).replace("@INVOICE@", "{6}")
            + "}}"
        )  # fmt: skip

    def _templates(self, spec: EventSpec) -> tuple[_Compiled, list[_Compiled]]:
        found = self.templates.get(spec.code)
        if found is None:
            invoiced = spec.kind not in (K_PAYMENT, K_POS)
            lines = [self._line_template(i, s, invoiced) for i, s in enumerate(spec.lines)]
            found = (_compile(",".join(lines)), [_compile(line) for line in lines])
            self.templates[spec.code] = found
        return found

    def _date(self, day: date) -> str:
        text = self.dates.get(day)
        if text is None:
            text = self.dates[day] = day.isoformat()
        return text

    def render(self, event: Event, lo: int, hi: int) -> str:
        whole, lines = self._templates(event.spec)
        args = (
            event.prefix,
            self._date(event.day),
            event.ref,
            "null" if event.invoice_number is None else f'"{event.invoice_number}"',
            "null" if event.invoice_date is None else f'"{self._date(event.invoice_date)}"',
            ""
            if event.created is None
            else f',{json.dumps(m.TXN_CREATED_AT)}:"{event.created.isoformat()}T09:00:00Z"',
            event.invoice or "",
            *[money(c) for c in event.amounts],
        )
        if lo == 0 and hi == len(lines):
            return whole[0] % whole[1](args)
        return ",".join([text % fields(args) for text, fields in lines[lo:hi]])
