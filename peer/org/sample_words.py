"""The sample company's word lists and identifiers: countries, cities, products, phrases.

Data for :mod:`roamsync.peer.org.sample`; the identifiers carry valid check
digits, like real ones.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


def org_no(rng: random.Random) -> str:
    """Norwegian organisation number: 9 digits, the last a mod-11 check digit."""
    while True:
        digits = [9, *(rng.randrange(10) for _ in range(7))]
        check = -sum(w * d for w, d in zip((3, 2, 7, 6, 5, 4, 3, 2), digits, strict=True)) % 11
        if check != 10:  # such numbers are never issued
            s = "".join(map(str, digits)) + str(check)
            return f"{s[:3]} {s[3:6]} {s[6:]}"


def org_se(rng: random.Random) -> str:
    """Swedish organisationsnummer of an aktiebolag (556...), Luhn check digit."""
    digits = [5, 5, 6, *(rng.randrange(10) for _ in range(6))]
    total = sum(sum(divmod(d * (2 - i % 2), 10)) for i, d in enumerate(digits))
    s = "".join(map(str, digits)) + str(-total % 10)
    return f"{s[:6]}-{s[6:]}"


def org_dk(rng: random.Random) -> str:
    """Danish CVR number: 8 digits whose weighted sum is divisible by 11."""
    while True:
        digits = [rng.randrange(1, 10), *(rng.randrange(10) for _ in range(6))]
        check = -sum(w * d for w, d in zip((2, 7, 6, 5, 4, 3, 2), digits, strict=True)) % 11
        if check != 10:
            return "".join(map(str, digits)) + str(check)


@dataclass(frozen=True)
class Country:
    name: str  # in addresses; empty at home
    suffix: str
    sons: str
    tld: str
    isp: str
    org_number: Callable[[random.Random], str]
    cities: tuple[tuple[str, str, str], ...]  # postcode, city, phone pattern (# = digit)
    streets: tuple[str, ...]
    mobiles: tuple[str, ...]
    firsts: tuple[str, ...]
    lasts: tuple[str, ...]
    trades: tuple[str, ...]


# The tables are laid out by hand (fmt: off), so a reader sees each list whole.
# fmt: off
NORWAY = Country(
    "", "AS", "Sønner", "no", "online.no", org_no,
    (("0150", "Oslo", "+47 2# ## ## ##"), ("5003", "Bergen", "+47 55 ## ## ##"),
     ("7010", "Trondheim", "+47 73 ## ## ##"), ("4006", "Stavanger", "+47 51 ## ## ##"),
     ("3015", "Drammen", "+47 32 ## ## ##"), ("1337", "Sandvika", "+47 67 ## ## ##"),
     ("9008", "Tromsø", "+47 77 ## ## ##"), ("4608", "Kristiansand", "+47 38 ## ## ##"),
     ("2317", "Hamar", "+47 62 ## ## ##"), ("1606", "Fredrikstad", "+47 69 ## ## ##")),
    ("Storgata", "Kirkegata", "Industriveien", "Strandgata", "Kongens gate", "Sjøgata",
     "Fjellveien", "Havnegata", "Parkveien", "Skolegata", "Nygata", "Bjørkeveien"),
    ("+47 9## ## ###", "+47 4## ## ###"),
    ("Kari", "Ola", "Ingrid", "Lars", "Marte", "Henrik", "Silje", "Anders", "Nora", "Jonas",
     "Ragnhild", "Eirik", "Solveig", "Håkon", "Ida", "Torbjørn", "Sigrid", "Magnus"),
    ("Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Berg",
     "Kristiansen", "Karlsen", "Haugen", "Hagen", "Bakken", "Solberg", "Lie", "Dahl",
     "Strand", "Moen", "Aas", "Eide"),
    ("Bygg", "Rør", "VVS", "Eiendom", "Entreprenør", "Rørlegger", "Bad", "Varme"),
)
SWEDEN = Country(
    "Sweden", "AB", "Söner", "se", "telia.com", org_se,
    (("411 38", "Göteborg", "+46 31 ### ## ##"), ("111 52", "Stockholm", "+46 8 ### ### ##"),
     ("211 22", "Malmö", "+46 40 ## ## ##"), ("753 20", "Uppsala", "+46 18 ## ## ##"),
     ("582 24", "Linköping", "+46 13 ## ## ##"), ("652 25", "Karlstad", "+46 54 ## ## ##")),
    ("Storgatan", "Kungsgatan", "Drottninggatan", "Industrivägen", "Hamngatan",
     "Järnvägsgatan", "Skolgatan", "Sjövägen"),
    ("+46 70 ### ## ##", "+46 73 ### ## ##"),
    ("Anna", "Erik", "Karin", "Lars", "Maria", "Johan", "Elin", "Mikael", "Sara", "Anders",
     "Emma", "Per", "Linnea", "Gustav"),
    ("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson",
     "Persson", "Svensson", "Gustafsson", "Lindberg", "Lindqvist", "Bergström", "Holm"),
    ("Bygg", "Rör", "VVS", "Fastigheter", "Entreprenad", "Plåt", "Värme"),
)
DENMARK = Country(
    "Denmark", "A/S", "Sønner", "dk", "mail.dk", org_dk,
    (("8000", "Aarhus C", "+45 86 ## ## ##"), ("1620", "København V", "+45 33 ## ## ##"),
     ("5000", "Odense C", "+45 66 ## ## ##"), ("9000", "Aalborg", "+45 98 ## ## ##"),
     ("7100", "Vejle", "+45 75 ## ## ##"), ("6700", "Esbjerg", "+45 76 ## ## ##")),
    ("Vestergade", "Østergade", "Nørregade", "Søndergade", "Industrivej", "Havnegade",
     "Strandvejen", "Kirkevej"),
    ("+45 2# ## ## ##", "+45 4# ## ## ##"),
    ("Mette", "Søren", "Anne", "Jens", "Camilla", "Niels", "Louise", "Mads", "Sofie",
     "Rasmus", "Pia", "Henrik"),
    ("Nielsen", "Jensen", "Hansen", "Pedersen", "Andersen", "Christensen", "Larsen",
     "Sørensen", "Rasmussen", "Jørgensen", "Madsen", "Kristensen"),
    ("Byg", "VVS", "Ejendomme", "Entreprise", "Tømrer", "Blik"),
)
COUNTRIES, COUNTRY_WEIGHTS = (NORWAY, SWEDEN, DENMARK), (6, 3, 2)

# code, name, unit, price range (whole kroner), variants
CATALOGUE = (
    ("PIP", "Copper pipe", "m", 80, 190, ("12 mm", "15 mm", "22 mm", "28 mm")),
    ("PIP", "PEX pipe in sleeve", "m", 25, 60, ("15 mm", "20 mm")),
    ("FIT", "Press fitting elbow", "pcs", 30, 95, ("15 mm", "22 mm", "28 mm")),
    ("FIT", "Pipe clamp", "pcs", 15, 60, ("15 mm", "22 mm")),
    ("VAL", "Ball valve", "pcs", 120, 480, ('1/2"', '3/4"', '1"')),
    ("SAN", "Wall-hung toilet", "pcs", 2400, 5200, ("white", "matte black")),
    ("SAN", "Washbasin", "pcs", 900, 3200, ("50 cm", "60 cm", "80 cm")),
    ("SAN", "Shower mixer", "pcs", 1200, 3800, ("chrome", "brushed steel")),
    ("HEA", "Floor heating mat", "m2", 350, 700, ("100 W/m2", "150 W/m2")),
    ("HEA", "Radiator", "pcs", 1400, 4200, ("600x800", "600x1200", "300x1600")),
    ("HEA", "Water heater", "pcs", 6500, 14500, ("120 l", "200 l", "300 l")),
    ("DRN", "Floor drain", "pcs", 450, 1300, ("vinyl", "tile")),
    ("FIX", "Stainless screws", "box", 90, 300, ("4x40, 200 pcs", "5x60, 100 pcs")),
    ("INS", "Pipe insulation", "m", 20, 70, ("15/20 mm", "22/20 mm")),
    ("SEA", "Sanitary silicone", "tube", 79, 149, ("white", "transparent", "grey")),
    ("MEM", "Wet room membrane", "roll", 900, 2100, ("10 m2", "30 m2")),
    ("TOO", "Press tool jaw", "pcs", 1800, 4200, ("15 mm", "22 mm", "28 mm")),
)
QUANTITIES = {"m": (5, 120), "pcs": (1, 24), "m2": (4, 60), "box": (1, 10), "tube": (2, 36),
              "roll": (1, 6)}
WAREHOUSES = ("Sandvika", "Bergen")
TITLES = ("Purchasing manager", "Site manager", "CEO", "Project manager", "Accountant",
          "Foreman", "Plumber", "Warehouse manager")
CONTACT_NOTES = ("Prefers delivery before 10:00.", "Pays on time.", "Wants invoices by e-mail.",
                 "Ask for the site manager on arrival.", "Annual price review in January.",
                 "")
PERSON_NOTES = ("Prefers e-mail.", "On holiday in July.", "Decides on larger purchases.", "")
JOBS = ("Bathroom renovation", "Heating system upgrade", "New build, 8 flats", "Office kitchen",
        "Pipe replacement", "Wet room renovation", "Water heater replacement")
WORK = ("Site inspection", "Delivery and unloading", "Installation of floor drains",
        "Pressure test", "Meeting with customer", "Pipe installation", "Final inspection")
DOCUMENTS = (("contract", "Framework agreement {year}"), ("price list", "Price list {year}"),
             ("certificate", "Wet room certificate, {street}"), ("drawing", "Drawing, {street}"),
             ("delivery note", "Delivery note {n}"))
ACTIVITIES = ("Follow up quote", "Call about delivery time", "Visit at site",
              "Send updated price list", "Annual price review", "Check stock of radiators",
              "Remind about unpaid invoice")
ACTIVITY_NOTES = ("Left a voicemail.", "Call back after lunch.", "Bring the new catalogue.", "")
# fmt: on
FOLD = str.maketrans({"æ": "ae", "ø": "o", "å": "a", "ä": "a", "ö": "o", "é": "e"})


def digits(rng: random.Random, pattern: str) -> str:
    return "".join(str(rng.randrange(10)) if c == "#" else c for c in pattern)


def slug(name: str) -> str:
    return "-".join(name.lower().translate(FOLD).replace("&", " ").split())
