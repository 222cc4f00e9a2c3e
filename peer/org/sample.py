"""A sample company database, for demos, manual testing and first-time users.

>>> async def example(path):
...     async with await Peer.open(path, device="hq", role="main") as peer:
...         counts = await fill_sample(peer, seed=7, size="small")
...         return counts, peer.find("orders", "1")[0]["status"]
...         # ({'contacts': 20, 'contact_persons': 34, ...}, 'invoiced')

The data belongs to :data:`SAMPLE_COMPANY`, a Norwegian wholesaler of
plumbing and building supplies with customers and suppliers in Norway,
Sweden and Denmark. It is generated from a seeded ``random.Random`` and the
word lists below, with every date counted from :data:`SAMPLE_TODAY`, so one
seed gives the same records on every machine and on every day (only record
ids, which the replica draws itself, differ). Amounts are without VAT.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import partial

from roamsync.peer.org.sample_words import (
    ACTIVITIES,
    ACTIVITY_NOTES,
    CATALOGUE,
    CONTACT_NOTES,
    COUNTRIES,
    COUNTRY_WEIGHTS,
    DOCUMENTS,
    JOBS,
    PERSON_NOTES,
    QUANTITIES,
    TITLES,
    WAREHOUSES,
    WORK,
    Country,
    digits,
    slug,
)
from roamsync.peer.replica import Peer, RecordId
from roamsync.schema import UsageError, allowed

SAMPLE_TODAY = dt.date(2026, 11, 2)
SAMPLE_COMPANY = {
    "name": "Fjordvik Engros AS",
    "address": "Industriveien 14, 1337 Sandvika",
    "phone": "+47 67 55 20 00",
    "email": "post@fjordvik-engros.no",
    "org_number": "918 404 279",  # valid mod-11 check digit, like a real one
}
# The business data the sample invents. Devices, their status and the company profile
# describe the real installation, so they are left to enrolment and registration.
# fmt: off
FILLED = ("contacts", "contact_persons", "products", "stock", "quotes", "quote_lines",
          "orders", "order_lines", "invoices", "projects", "time_registrations", "documents",
          "activities")
# fmt: on


@dataclass(frozen=True)
class _Size:
    contacts: int
    products: int  # a wholesaler's range does not grow with its customer list
    quotes: int
    orders: int
    projects: int
    documents: int
    activities: int


SIZES = {  # contacts, products, quotes, orders, projects, documents, activities
    "small": _Size(20, 15, 12, 18, 3, 12, 20),
    "medium": _Size(200, 40, 120, 180, 20, 120, 200),
}


# -- identifiers and word lists -----------------------------------------------------------------


# -- generation -------------------------------------------------------------------


@dataclass(frozen=True)
class _Contact:
    id: RecordId
    name: str
    company: bool
    customer: bool
    country: Country
    street: str


@dataclass(frozen=True)
class _Product:
    id: RecordId
    label: str  # name and SKU, for order lines
    unit: str
    price: Decimal


@dataclass(frozen=True)
class _Deal:
    """A quote or order before it is written: who, when and what."""

    contact: _Contact
    date: dt.date
    title: str
    lines: tuple[tuple[_Product, int], ...]
    quote: str | None = None  # number of the quote an order came from

    @property
    def total(self) -> Decimal:
        return sum((p.price * qty for p, qty in self.lines), Decimal("0.00"))

    def notes(self) -> str:
        lines = [
            f"{qty} {p.unit} {p.label} at {p.price} = {p.price * qty}" for p, qty in self.lines
        ]
        return "\n".join(([f"From quote {self.quote}."] if self.quote else []) + lines)


def _days(rng: random.Random, low: int, high: int) -> dt.date:
    """A date ``low``..``high`` days from the sample's today (negative: in the past)."""
    return SAMPLE_TODAY + dt.timedelta(days=rng.randint(low, high))


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


class _Sampler:
    """Writes the sample module by module, each from the records written before it."""

    def __init__(self, peer: Peer, rng: random.Random, size: _Size) -> None:
        self.peer, self.rng, self.size = peer, rng, size
        self.counts = dict.fromkeys(FILLED, 0)
        self.contacts: list[_Contact] = []
        self.products: list[_Product] = []
        self.names: set[str] = set()

    async def create(self, module: str, fields: Mapping[str, object]) -> RecordId:
        """Create one record; an empty string leaves the field unset, as a user would."""
        record_id = await self.peer.create(module, {k: v for k, v in fields.items() if v != ""})
        self.counts[module] += 1
        return record_id

    def unique(self, make: Callable[[], str]) -> str:
        """A name not used yet: two customers with one name would make a confusing demo."""
        name = make()
        for _ in range(100):
            if name not in self.names:
                break
            name = make()
        else:
            name = f"{name} {len(self.names)}"
        self.names.add(name)
        return name

    def customers(self) -> list[_Contact]:
        return [c for c in self.contacts if c.customer]

    def person_name(self, country: Country) -> str:
        return f"{self.rng.choice(country.firsts)} {self.rng.choice(country.lasts)}"

    def company_name(self, country: Country, city: str) -> str:
        """A family, town or trade name, the way small Nordic firms are named."""
        last, trade = self.rng.choice(country.lasts), self.rng.choice(country.trades)
        town = city.split()[0]  # "Aarhus C" -> "Aarhus"
        base = self.rng.choice((f"{last} {trade}", f"{last} & {country.sons}", f"{town} {trade}"))
        return f"{base} {country.suffix}"

    def phone(self, patterns: tuple[str, ...]) -> str:
        return digits(self.rng, self.rng.choice(patterns))

    async def add_contacts(self) -> None:
        for _ in range(self.size.contacts):
            country = self.rng.choices(COUNTRIES, COUNTRY_WEIGHTS)[0]
            await self.add_contact(country, company=self.rng.random() < 0.7)

    async def add_contact(self, country: Country, *, company: bool) -> None:
        rng = self.rng
        postcode, city, landline = rng.choice(country.cities)
        street = f"{rng.choice(country.streets)} {rng.randint(1, 120)}"
        address = ", ".join(filter(None, (street, f"{postcode} {city}", country.name)))
        customer = not company or rng.random() < 0.85  # the other companies are suppliers
        fields: dict[str, object] = {"address": address, "customer": customer}
        if company:
            name = self.unique(partial(self.company_name, country, city))
            domain = f"{slug(name.removesuffix(country.suffix))}.{country.tld}"
            fields |= {"kind": "company", "email": f"{rng.choice(('post', 'info'))}@{domain}"}
            fields |= {"phone": self.phone((landline,)), "org_number": country.org_number(rng)}
            fields["notes"] = rng.choice(CONTACT_NOTES) if customer else "Supplier."
        else:
            name = self.unique(partial(self.person_name, country))
            mailbox = f"{slug(name).replace('-', '.')}@{rng.choice((country.isp, 'gmail.com'))}"
            fields |= {"kind": "person", "email": mailbox}
            fields["phone"] = self.phone(country.mobiles)
        cid = await self.create("contacts", {"name": name, **fields})
        self.contacts.append(_Contact(cid, name, company, customer, country, street))

    async def add_contact_persons(self) -> None:
        for contact in (c for c in self.contacts if c.company):
            country = contact.country
            domain = f"{slug(contact.name.removesuffix(country.suffix))}.{country.tld}"
            for _ in range(self.rng.randint(1, 3)):
                name = self.unique(partial(self.person_name, country))
                fields = {"contact": contact.id, "name": name, "title": self.rng.choice(TITLES)}
                fields["email"] = f"{slug(name).replace('-', '.')}@{domain}"
                fields["phone"] = self.phone(country.mobiles)
                fields["notes"] = self.rng.choice(PERSON_NOTES)
                await self.create("contact_persons", fields)

    async def add_products(self) -> None:
        """A random part of the catalogue, at a price in the item's range, in SKU order."""
        variants = [
            (f"{code}-{1000 + 10 * i + j}", f"{name}, {variant}", unit, low, high)
            for i, (code, name, unit, low, high, names) in enumerate(CATALOGUE)
            for j, variant in enumerate(names)
        ]
        for sku, name, unit, low, high in sorted(
            self.rng.sample(variants, min(self.size.products, len(variants)))
        ):
            whole = self.rng.randint(low, high)
            if whole >= 1000:
                price = Decimal(f"{whole // 10 * 10}.00")  # dear items have round prices
            else:
                price = Decimal(f"{whole}.{self.rng.choice(('00', '50', '90'))}")
            fields = {"name": name, "sku": sku, "price": _money(price), "unit": unit}
            pid = await self.create("products", fields)
            self.products.append(_Product(pid, f"{name} ({sku})", unit, price))

    async def add_stock(self) -> None:
        """One shelf per product in the main warehouse, a third also in the Bergen one."""
        for product in self.products:
            for warehouse in WAREHOUSES[: self.rng.choice((1, 1, 2))]:
                shelf = f"{self.rng.choice('ABCD')}-{self.rng.randint(1, 24):02d}"
                location = f"{warehouse} {shelf}-{self.rng.randint(1, 5)}"
                quantity = self.rng.randint(0, 8 * QUANTITIES[product.unit][1])
                fields = {"product": product.id, "quantity": quantity, "location": location}
                await self.create("stock", fields)

    def deal(self, contact: _Contact, date: dt.date) -> _Deal:
        lines = []
        for product in self.rng.sample(self.products, self.rng.randint(1, 5)):
            low, high = QUANTITIES[product.unit]
            lines.append((product, self.rng.randint(low, high)))
        title = self.rng.choice(JOBS) + (f", {contact.street}" if self.rng.random() < 0.6 else "")
        return _Deal(contact, date, title, tuple(lines))

    def deals(self, n: int, oldest: int) -> list[_Deal]:
        customers = self.customers()
        return [
            self.deal(self.rng.choice(customers), _days(self.rng, -oldest, 0)) for _ in range(n)
        ]

    async def add_quotes(self) -> list[_Deal]:
        """Quotes, oldest first so numbers rise with dates; returns the won ones as orders."""
        won = []
        for deal in sorted(self.deals(self.size.quotes, 180), key=lambda d: d.date):
            valid_until = deal.date + dt.timedelta(days=30)
            status = self.quote_status(valid_until)
            fields: dict[str, object] = {"contact": deal.contact.id, "title": deal.title}
            fields |= {"status": status, "total": _money(deal.total), "valid_until": valid_until}
            qid = await self.create("quotes", {**fields, "notes": deal.notes()})
            await self.add_lines("quote_lines", "quote", qid, deal)
            if status == "accepted":
                number = self.peer.get("quotes", qid)["number"]
                date = min(deal.date + dt.timedelta(days=self.rng.randint(1, 20)), SAMPLE_TODAY)
                won.append(_Deal(deal.contact, date, deal.title, deal.lines, number))
        return won

    async def add_lines(self, module: str, field: str, parent: RecordId, deal: _Deal) -> None:
        """One line per product of the deal, at its list price: they sum to its total."""
        for product, quantity in deal.lines:
            fields: dict[str, object] = {field: parent, "product": product.id}
            fields["text"] = product.label
            fields |= {"quantity": quantity, "unit_price": _money(product.price)}
            await self.create(module, fields)

    def quote_status(self, valid_until: dt.date) -> str:
        if valid_until < SAMPLE_TODAY:
            return self.rng.choices(("accepted", "declined", "expired"), (45, 25, 30))[0]
        return self.rng.choices(("draft", "sent", "accepted"), (25, 50, 25))[0]

    async def add_orders(self, won: list[_Deal]) -> None:
        """The won quotes and other orders, oldest first; each invoiced one gets its invoice."""
        deals = won + self.deals(max(0, self.size.orders - len(won)), 365)
        for deal in sorted(deals, key=lambda d: d.date):
            status = self.order_status(deal.date)
            fields: dict[str, object] = {"contact": deal.contact.id, "title": deal.title}
            fields |= {"status": status, "total": _money(deal.total), "order_date": deal.date}
            oid = await self.create("orders", {**fields, "notes": deal.notes()})
            await self.add_lines("order_lines", "order", oid, deal)
            if status == "invoiced":
                await self.add_invoice(oid, deal)

    def order_status(self, date: dt.date) -> str:
        """How far an order of that age has come; a few are cancelled."""
        if self.rng.random() < 0.04:
            return "cancelled"
        age = (SAMPLE_TODAY - date).days
        for days, status in ((21, "invoiced"), (10, "delivered"), (3, "shipped"), (1, "confirmed")):
            if age > days:
                return status
        return "new"

    async def add_invoice(self, order: RecordId, deal: _Deal) -> None:
        """Issued a week or two after the order; about one in ten past due is still unpaid."""
        issued = min(deal.date + dt.timedelta(days=self.rng.randint(5, 14)), SAMPLE_TODAY)
        due = issued + dt.timedelta(days=30 if deal.contact.company else 14)
        paid = self.rng.random() < (0.9 if due < SAMPLE_TODAY else 0.2)
        fields = {"order": order, "contact": deal.contact.id, "amount": _money(deal.total)}
        await self.create("invoices", {**fields, "due": due, "paid": paid})

    async def add_projects(self) -> None:
        companies = [c for c in self.customers() if c.company] or self.customers()
        for _ in range(self.size.projects):
            contact = self.rng.choice(companies)
            start = _days(self.rng, -300, -14)
            end = start + dt.timedelta(days=self.rng.randint(21, 150))
            name = f"{self.rng.choice(JOBS)}, {contact.street}"
            notes = f"Site contact: {self.person_name(contact.country)}."
            fields = {"name": name, "contact": contact.id, "start": start, "end": end}
            pid = await self.create("projects", {**fields, "notes": notes})
            await self.add_hours(pid, start, min(end, SAMPLE_TODAY))

    async def add_hours(self, project: RecordId, start: dt.date, end: dt.date) -> None:
        """Hours on random workdays of the project, up to its end or today."""
        span = (start + dt.timedelta(days=d) for d in range((end - start).days + 1))
        workdays = [day for day in span if day.weekday() < 5]
        for day in sorted(self.rng.choice(workdays) for _ in range(self.rng.randint(6, 14))):
            hours = self.rng.choice((1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 7.5))
            fields = {"project": project, "date": day, "hours": hours}
            await self.create(
                "time_registrations", {**fields, "description": self.rng.choice(WORK)}
            )

    async def add_documents(self) -> None:
        for n in range(self.size.documents):
            contact = self.rng.choice(self.contacts)
            kind, title = self.rng.choice(DOCUMENTS)
            date = _days(self.rng, -365, 0)
            title = title.format(year=date.year, street=contact.street, n=24100 + 37 * n)
            fields = {"title": f"{title} ({contact.name})", "contact": contact.id}
            await self.create("documents", {**fields, "kind": kind, "date": date})

    async def add_activities(self) -> None:
        for _ in range(self.size.activities):
            contact = self.rng.choice(self.contacts)
            due = _days(self.rng, -60, 30)
            done = due < SAMPLE_TODAY and self.rng.random() < 0.85  # some slipped
            fields = {"subject": self.rng.choice(ACTIVITIES), "contact": contact.id, "due": due}
            await self.create(
                "activities", {**fields, "done": done, "notes": self.rng.choice(ACTIVITY_NOTES)}
            )


def _check_empty_and_allowed(peer: Peer) -> None:
    """Refuse up front rather than half-fill: sample records mixed into real data, or a
    travel device stopped at the products it may not create, would need cleaning by hand."""
    filled = [m for m in FILLED if peer.count(m)]
    if filled:
        raise UsageError(f"the sample needs an empty replica; it has {', '.join(filled)}")
    denied = [m for m in FILLED if not allowed(peer.role, m, "create", own=True)]
    if denied:
        raise UsageError(f"a {peer.role} device may not create {', '.join(denied)} records")


async def fill_sample(peer: Peer, *, seed: int = 7, size: str = "small") -> dict[str, int]:
    """Fill an empty replica with the sample company database; return records per module.

    ``size`` is ``"small"`` (20 contacts, about 200 records) or ``"medium"``
    (200 contacts, about 1,600). On main, quotes and orders get their final
    numbers in date order; elsewhere they get provisional ones.
    """
    if size not in SIZES:
        raise UsageError(f"size must be one of {tuple(SIZES)}, not {size!r}")
    _check_empty_and_allowed(peer)
    sampler = _Sampler(peer, random.Random(seed), SIZES[size])
    await sampler.add_contacts()
    await sampler.add_contact_persons()
    await sampler.add_products()
    await sampler.add_stock()
    await sampler.add_orders(await sampler.add_quotes())
    await sampler.add_projects()
    await sampler.add_documents()
    await sampler.add_activities()
    return sampler.counts
