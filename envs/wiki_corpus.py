"""A generated encyclopedia of fictional entities, for ``TextEnv-WikiSearch-v0``.

Answers cannot come from a model's memorised knowledge: every person, city, organisation,
work and event is invented, with attributes (years, populations, occupations) and relations
(a founder, an employer, a host city) drawn from a seeded ``random.Random``. Each entity is
rendered as a multi-paragraph article: a lead paragraph of facts, then narrative with
**distractor facts** (a rival's birth, a city the person later moved to, a sister
organisation's founding), so a careless reader of a search result can pick the wrong value.

Determinism: everything is a pure function of ``(seed, entities)`` and
:data:`GENERATOR_VERSION`. The only RNG is a ``random.Random`` seeded with a string (hashed
with SHA-512 inside ``random``, independent of ``PYTHONHASHSEED``); sets are used for
membership only, never iterated, so the bytes are the same in every process.

Distinctive names: every entity name contains an invented word ("root") used by no other
entity, and no two roots (nor first names, regions, rivers) share a Porter stem, checked
with SQLite's own FTS5 tokenizer, the one the index uses. So a BM25 query with an entity's
name finds that entity's article first.

Readable facts: each fact is stated once, in a fixed sentence form that names the subject
in full (``"<Name> was born in <City> in <Year>."``); narrative and distractor sentences
never name the subject in full. So for the query ``"<Name> born"`` the best-matching
sentence of the subject's article (the search snippet) is exactly the fact sentence, and
:func:`read_fact` can read the value back from the hits of a search, as the oracle does.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import re
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "GENERATOR_VERSION",
    "KINDS",
    "RELATIONS",
    "MULTI_HOP",
    "Entity",
    "Encyclopedia",
    "Relation",
    "Chain",
    "generate_encyclopedia",
    "read_fact",
]

#: Bumped whenever generation changes; part of the corpus fingerprint.
GENERATOR_VERSION = 1

#: Entity kinds and their share of the corpus.
KINDS: dict[str, float] = {
    "person": 0.40,
    "place": 0.12,
    "org": 0.20,
    "work": 0.16,
    "event": 0.12,
}

# Syllables for invented words: simple onsets, plain vowels, light codas, so names are
# pronounceable ("Vantari", "Ostrevale") yet unlike any English word the templates use.
_ONSETS = tuple("b br d dr f g gr h j k l m n p r s st t th tr v z".split())
_VOWELS = tuple("a e i o u a e o".split())
_CODAS = ("", "", "", "", "n", "r", "l", "th", "nd", "m", "rn", "nt", "rk", "x")
_PLACE_ENDINGS = ("vale", "mark", "hold", "wick", "mere", "ford", "stead", "haven", "gard")

_OCCUPATIONS = (
    "cartographer",
    "astronomer",
    "glassblower",
    "archivist",
    "botanist",
    "shipwright",
    "physician",
    "engraver",
    "surveyor",
    "clockmaker",
    "chemist",
    "weaver",
    "architect",
    "lexicographer",
    "navigator",
    "apothecary",
    "bookbinder",
    "stonemason",
    "jurist",
    "mathematician",
    "beekeeper",
    "luthier",
    "mapmaker",
    "geologist",
)
_ORG_KINDS = (
    "Guild",
    "Company",
    "Society",
    "Academy",
    "League",
    "Institute",
    "Syndicate",
    "Collective",
    "Foundry",
    "Lodge",
    "Brotherhood",
    "Observatory",
)
_EVENT_KINDS = (
    "Accord",
    "Conclave",
    "Fair",
    "Congress",
    "Exhibition",
    "Festival",
    "Summit",
    "Games",
    "Expedition",
    "Council",
    "Regatta",
    "Symposium",
)
#: Work form -> (participle used in the fact sentence, creator noun used in questions).
_WORK_FORMS: dict[str, tuple[str, str]] = {
    "Sonata": ("composed", "composer"),
    "Cantata": ("composed", "composer"),
    "Requiem": ("composed", "composer"),
    "Chronicle": ("written", "author"),
    "Elegy": ("written", "author"),
    "Treatise": ("written", "author"),
    "Codex": ("written", "author"),
    "Triptych": ("painted", "painter"),
    "Fresco": ("painted", "painter"),
    "Tapestry": ("woven", "weaver"),
}
_VERB_OF_PARTICIPLE = {
    "composed": "composed",
    "written": "wrote",
    "painted": "painted",
    "woven": "wove",
}


@dataclass(frozen=True)
class Relation:
    """One attribute or relation of an entity kind.

    Attributes:
        question: single-hop question template; ``{s}`` is the subject as written in text
            (``"the Vantari Guild"``, ``"Anna Vorkel"``), ``{creator}`` the work's creator
            noun.
        keywords: what a good search adds to the subject's name.
        pattern: regex over a snippet with ``{s}`` (the escaped subject name); group 1 is
            the value.
        target: the entity kind of the value, for relations that chain; None for values.
    """

    question: str
    keywords: str
    pattern: str
    target: str | None = None


# Patterns are str.format templates ({s} is the escaped subject), so regex braces are
# avoided: a year is \d\d\d\d, a city or region one capitalised word, a person or an
# organisation two.
_W = "[A-Z][a-z]+"
_N = "[A-Z][a-z]+ [A-Z][a-z]+"

#: kind -> relation -> Relation. The fact sentence forms are in :func:`_lead`.
RELATIONS: dict[str, dict[str, Relation]] = {
    "person": {
        "birth_city": Relation(
            "In which city was {s} born?",
            "born",
            r"\b{s} was born in (" + _W + r") in \d\d\d\d\.",
            "place",
        ),
        "birth_year": Relation(
            "In what year was {s} born?", "born", r"\b{s} was born in " + _W + r" in (\d\d\d\d)\."
        ),
        "occupation": Relation(
            "What was the occupation of {s}?", "worked", r"\b{s} worked as an? ([a-z]+)\."
        ),
        "employer": Relation(
            "Which organisation employed {s}?",
            "employed",
            r"\b{s} was employed by the (" + _N + r")\.",
            "org",
        ),
        "death_year": Relation("In what year did {s} die?", "died", r"\b{s} died in (\d\d\d\d)\."),
    },
    "place": {
        "founded": Relation(
            "In what year was {s} founded?", "founded", r"\b{s} was founded in (\d\d\d\d)\."
        ),
        "population": Relation(
            "What is the population of {s}?", "population", r"\b{s} has a population of ([\d,]+)\."
        ),
        "region": Relation(
            "In which region is {s}?", "region", r"\b{s} is a city in the (" + _W + r") region"
        ),
        "river": Relation(
            "On which river does {s} lie?",
            "river",
            r"\b{s} is a city in the " + _W + r" region, on the (" + _W + r") river\.",
        ),
    },
    "org": {
        "founded": Relation(
            "In what year was {s} founded?", "founded", r"\b{s} was founded in (\d\d\d\d) by "
        ),
        "founder": Relation(
            "Who founded {s}?",
            "founded",
            r"\b{s} was founded in \d\d\d\d by (" + _N + r")\.",
            "person",
        ),
        "hq": Relation(
            "In which city is {s} headquartered?",
            "headquartered",
            r"\b{s} is headquartered in (" + _W + r")\.",
            "place",
        ),
    },
    "work": {
        "creator": Relation(
            "Who {verb} {s}?",
            "{participle}",
            r"\b{s} was (?:composed|written|painted|woven) by (" + _N + r")\.",
            "person",
        ),
        "year": Relation(
            "In what year was {s} completed?", "completed", r"\b{s} was completed in (\d\d\d\d)\."
        ),
        "premiere": Relation(
            "In which city was {s} first presented?",
            "first presented",
            r"\b{s} was first presented in (" + _W + r")\.",
            "place",
        ),
    },
    "event": {
        "year": Relation(
            "In what year did {s} take place?",
            "took place",
            r"\b{s} took place in " + _W + r" in (\d\d\d\d)\.",
        ),
        "city": Relation(
            "In which city did {s} take place?",
            "took place",
            r"\b{s} took place in (" + _W + r") in \d\d\d\d\.",
            "place",
        ),
        "organiser": Relation(
            "Which organisation organised {s}?",
            "organised",
            r"\b{s} was organised by the (" + _N + r")\.",
            "org",
        ),
    },
}


@dataclass(frozen=True)
class Chain:
    """A multi-hop question: follow ``first`` from the subject, then ``second``."""

    kind: str
    first: str
    second: str
    question: str


#: Two-hop questions; ``{s}`` as in :class:`Relation`.
MULTI_HOP: tuple[Chain, ...] = (
    Chain("org", "founder", "birth_city", "In which city was the founder of {s} born?"),
    Chain("org", "founder", "birth_year", "In what year was the founder of {s} born?"),
    Chain("org", "hq", "founded", "In what year was the city where {s} is headquartered founded?"),
    Chain("work", "creator", "birth_city", "In which city was the {creator} of {s} born?"),
    Chain("work", "creator", "employer", "Which organisation employed the {creator} of {s}?"),
    Chain(
        "work", "premiere", "region", "In which region is the city where {s} was first presented?"
    ),
    Chain("event", "organiser", "founder", "Who founded the organisation that organised {s}?"),
    Chain(
        "event",
        "organiser",
        "hq",
        "In which city is the organisation that organised {s} headquartered?",
    ),
    Chain("event", "city", "founded", "In what year was the city that hosted {s} founded?"),
    Chain("person", "employer", "hq", "In which city is the employer of {s} headquartered?"),
    Chain("person", "birth_city", "population", "What is the population of the birthplace of {s}?"),
    Chain("person", "employer", "founder", "Who founded the organisation that employed {s}?"),
)


@dataclass(frozen=True)
class Entity:
    """One fictional entity.

    Attributes:
        kind: ``person``, ``place``, ``org``, ``work`` or ``event``.
        name: its title (``"Vantari Guild"``); unique in the encyclopedia.
        facts: relation -> value (a year, a number, or another entity's name).
        extra: rendering details (pronoun, work form, region of a place, ...).
    """

    kind: str
    name: str
    facts: dict[str, str]
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def mention(self) -> str:
        """How text refers to it: ``"the Vantari Guild"``, ``"Anna Vorkel"``."""
        return self.name if self.kind in ("person", "place") else f"the {self.name}"


@dataclass(frozen=True)
class Encyclopedia:
    """The generated corpus: entities, their articles, and a content fingerprint."""

    seed: int
    size: int
    entities: tuple[Entity, ...]
    articles: tuple[tuple[str, str], ...]  # (title, text), one per entity, same order
    fingerprint: str
    by_name: dict[str, Entity] = field(repr=False, compare=False, default_factory=dict)
    by_kind: dict[str, tuple[Entity, ...]] = field(repr=False, compare=False, default_factory=dict)

    def documents(self) -> list[dict[str, str]]:
        """The articles as ``{"title", "text"}`` dicts (the JSONL corpus format)."""
        return [{"title": title, "text": text} for title, text in self.articles]

    def to_bytes(self) -> bytes:
        """The articles as UTF-8 JSONL, the bytes the fingerprint hashes."""
        return _jsonl(self.articles)


def _jsonl(articles: Sequence[tuple[str, str]]) -> bytes:
    return "".join(
        json.dumps({"title": t, "text": x}, ensure_ascii=False) + "\n" for t, x in articles
    ).encode("utf-8")


# ---- names -----------------------------------------------------------------------------


def _porter_stems(words: Sequence[str]) -> list[str]:
    """The FTS5 Porter stem of each word (joined, for multi-token words), computed by the
    same tokenizer the index uses."""
    con = sqlite3.connect(":memory:")
    try:
        con.execute(
            "CREATE VIRTUAL TABLE w USING fts5(x, tokenize='porter unicode61 remove_diacritics 2')"
        )
        con.executemany("INSERT INTO w(rowid, x) VALUES (?, ?)", enumerate(words))
        con.execute("CREATE VIRTUAL TABLE v USING fts5vocab(w, 'instance')")
        parts: dict[int, list[tuple[int, str]]] = {}
        for term, doc, offset in con.execute("SELECT term, doc, offset FROM v"):
            parts.setdefault(doc, []).append((offset, term))
        return [" ".join(term for _, term in sorted(parts.get(i, []))) for i in range(len(words))]
    finally:
        con.close()


def _invent(rng: random.Random, syllables: int, ending: str = "") -> str:
    word = "".join(
        rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(syllables)
    )
    return (word + ending).capitalize()


class _NameBank:
    """Draws invented words whose Porter stems are unique across the whole corpus and
    differ from every word of the article templates."""

    def __init__(self, rng: random.Random, reserved: Sequence[str]):
        self.rng = rng
        self.used_stems: set[str] = set(_porter_stems([w.lower() for w in reserved]))
        self.used_words: set[str] = {w.lower() for w in reserved}

    def draw(
        self, n: int, *, syllables: tuple[int, ...] = (2, 3), endings: Sequence[str] = ("",)
    ) -> list[str]:
        out: list[str] = []
        while len(out) < n:
            # Draw a surplus, stem the batch in one SQLite call, keep the unused stems.
            batch = [
                _invent(self.rng, self.rng.choice(syllables), self.rng.choice(endings))
                for _ in range(int((n - len(out)) * 1.3) + 8)
            ]
            for word, stem in zip(batch, _porter_stems([w.lower() for w in batch])):
                low = word.lower()
                if (
                    len(word) < 5
                    or len(word) > 14
                    or low in self.used_words
                    or not stem
                    or " " in stem
                    or stem in self.used_stems
                ):
                    continue
                self.used_words.add(low)
                self.used_stems.add(stem)
                out.append(word)
                if len(out) == n:
                    break
        return out


# ---- generation ------------------------------------------------------------------------


def _counts(size: int) -> dict[str, int]:
    counts = {kind: max(8, round(size * share)) for kind, share in KINDS.items()}
    counts["person"] += size - sum(counts.values())  # exact total when size >= 40
    return counts


def _population(rng: random.Random) -> str:
    return f"{rng.randrange(2, 900) * 100 + rng.randrange(0, 100):,}"


def _article_words() -> list[str]:
    """Every word the article templates use, so no invented name can collide with one."""
    text = " ".join(
        [
            " ".join(_OCCUPATIONS),
            " ".join(_ORG_KINDS),
            " ".join(_EVENT_KINDS),
            " ".join(_WORK_FORMS),
            " ".join(p + " " + n for p, n in _WORK_FORMS.values()),
            _TEMPLATE_WORDS,
        ]
    )
    return sorted(set(re.findall(r"[a-z]+", text.lower())))


# Words of the narrative templates below (kept in one place for the collision check).
_TEMPLATE_WORDS = """
born city region river founded population worked employed died headquartered completed
first presented took place organised she he her his they their it its was were is are
moved later taught studied rival pupil colleague known best street named archive held
guild sister organisation oldest members museum copies survive district neighbouring
lies market bridge winter visitors travelled correspondence letters festival annual
century council records describe early years apprenticed lived married returned after
before during remembered portrait hangs library manuscript performance critics praised
reception version revised scholars debate origins attended delegates ended agreement
hosted accounts chroniclers disputed date square statue honour commissioned patron the
of in on at by a an and to for with from as which who that this one two three several
many some often also though never since until about around near within between
"""


@functools.lru_cache(maxsize=8)
def generate_encyclopedia(seed: int = 0, entities: int = 2000) -> Encyclopedia:
    """Generate the encyclopedia for ``seed`` with ``entities`` articles (at least 100).

    Cached per process: environments built with the same arguments share one object.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not isinstance(entities, int) or isinstance(entities, bool) or entities < 100:
        raise ValueError(f"entities must be an int >= 100, got {entities!r}")
    rng = random.Random(f"textgym-wiki|v{GENERATOR_VERSION}|{seed}|{entities}")
    counts = _counts(entities)
    bank = _NameBank(rng, _article_words())

    first_names = bank.draw(max(60, counts["person"] // 8), syllables=(1, 2))
    regions = bank.draw(max(12, counts["place"] // 6), syllables=(2,))
    rivers = bank.draw(max(16, counts["place"] // 3), syllables=(1, 2))
    place_names = bank.draw(counts["place"], syllables=(1, 2), endings=_PLACE_ENDINGS)
    surnames = bank.draw(counts["person"], syllables=(2, 2, 3))
    org_roots = bank.draw(counts["org"], syllables=(2, 2, 3))
    work_roots = bank.draw(counts["work"], syllables=(2, 2, 3))
    event_roots = bank.draw(counts["event"], syllables=(2, 2, 3))

    places = [
        Entity(
            "place",
            name,
            {
                "founded": str(rng.randrange(1000, 1600)),
                "population": _population(rng),
                "region": rng.choice(regions),
                "river": rng.choice(rivers),
            },
        )
        for name in place_names
    ]
    city_names = [p.name for p in places]

    # Organisation names come first: people need them (employer) before the
    # organisations themselves can be built (they need a founder).
    org_names = [f"{root} {rng.choice(_ORG_KINDS)}" for root in org_roots]
    people: list[Entity] = []
    for surname in surnames:
        born = rng.randrange(1600, 1850)
        people.append(
            Entity(
                "person",
                f"{rng.choice(first_names)} {surname}",
                {
                    "birth_city": rng.choice(city_names),
                    "birth_year": str(born),
                    "occupation": rng.choice(_OCCUPATIONS),
                    "employer": rng.choice(org_names),
                    "death_year": str(born + rng.randrange(38, 92)),
                },
                {"pronoun": rng.choice(("she", "he"))},
            )
        )

    orgs: list[Entity] = []
    for name in org_names:
        founder = rng.choice(people)
        orgs.append(
            Entity(
                "org",
                name,
                {
                    "founded": str(int(founder.facts["birth_year"]) + rng.randrange(22, 50)),
                    "founder": founder.name,
                    "hq": rng.choice(city_names),
                },
                {"members": f"{rng.randrange(3, 400) * 10:,}"},
            )
        )

    works: list[Entity] = []
    for root in work_roots:
        form = rng.choice(sorted(_WORK_FORMS))
        creator = rng.choice(people)
        works.append(
            Entity(
                "work",
                f"{root} {form}",
                {
                    "creator": creator.name,
                    "year": str(int(creator.facts["birth_year"]) + rng.randrange(19, 60)),
                    "premiere": rng.choice(city_names),
                },
                {"form": form},
            )
        )

    events: list[Entity] = []
    org_by_name = {o.name: o for o in orgs}
    for root in event_roots:
        organiser = org_by_name[rng.choice(org_names)]
        events.append(
            Entity(
                "event",
                f"{root} {rng.choice(_EVENT_KINDS)}",
                {
                    "year": str(int(organiser.facts["founded"]) + rng.randrange(3, 60)),
                    "city": rng.choice(city_names),
                    "organiser": organiser.name,
                },
            )
        )

    all_entities = tuple(people + places + orgs + works + events)
    by_name = {e.name: e for e in all_entities}
    by_kind = {kind: tuple(e for e in all_entities if e.kind == kind) for kind in KINDS}
    articles = tuple((e.name, _render(e, rng, by_kind)) for e in all_entities)
    digest = hashlib.sha256(f"textgym-wiki-v{GENERATOR_VERSION}\n".encode())
    digest.update(_jsonl(articles))
    return Encyclopedia(
        seed=seed,
        size=entities,
        entities=all_entities,
        articles=articles,
        fingerprint=digest.hexdigest(),
        by_name=by_name,
        by_kind=by_kind,
    )


# ---- rendering -------------------------------------------------------------------------


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _other(rng: random.Random, pool: Sequence[Entity], not_name: str = "") -> Entity:
    """A random entity of ``pool`` other than ``not_name`` (pools have at least 8)."""
    while True:
        candidate = pool[rng.randrange(len(pool))]
        if candidate.name != not_name:
            return candidate


def _lead(e: Entity) -> list[str]:
    """The fact sentences: each fact once, the subject named in full (see module doc)."""
    f, s = e.facts, _cap(e.mention)
    if e.kind == "person":
        occupation = f["occupation"]
        article = "an" if occupation[0] in "aeiou" else "a"
        return [
            f"{s} was born in {f['birth_city']} in {f['birth_year']}.",
            f"{s} worked as {article} {occupation}.",
            f"{s} was employed by the {f['employer']}.",
            f"{s} died in {f['death_year']}.",
        ]
    if e.kind == "place":
        return [
            f"{s} is a city in the {f['region']} region, on the {f['river']} river.",
            f"{s} was founded in {f['founded']}.",
            f"{s} has a population of {f['population']}.",
        ]
    if e.kind == "org":
        return [
            f"{s} was founded in {f['founded']} by {f['founder']}.",
            f"{s} is headquartered in {f['hq']}.",
        ]
    if e.kind == "work":
        participle = _WORK_FORMS[e.extra["form"]][0]
        return [
            f"{s} was {participle} by {f['creator']}.",
            f"{s} was completed in {f['year']}.",
            f"{s} was first presented in {f['premiere']}.",
        ]
    return [
        f"{s} took place in {f['city']} in {f['year']}.",
        f"{s} was organised by the {f['organiser']}.",
    ]


def _render(e: Entity, rng: random.Random, by_kind: dict[str, tuple[Entity, ...]]) -> str:
    """The article: a lead of facts, then narrative paragraphs with distractor facts. The
    narrative refers to the subject by pronoun, surname or kind only (never in full)."""
    facts = _lead(e)
    rng.shuffle(facts)  # fact order varies between articles; each stays one sentence
    f = e.facts
    paragraphs: list[list[str]] = [facts]
    if e.kind == "person":
        pro = e.extra["pronoun"]
        pos = "her" if pro == "she" else "his"
        short = e.name.split()[1]
        rival = _other(rng, by_kind["person"], e.name)
        moved = _other(rng, by_kind["place"], f["birth_city"])
        other_org = _other(rng, by_kind["org"], f["employer"])
        year = int(f["birth_year"])
        paragraphs.append(
            [
                f"In {year + rng.randrange(18, 30)}, {short} moved to {moved.name}, where {pro} "
                f"studied with members of the {other_org.name}.",
                f"{_cap(pos)} rival, {rival.name}, was born in {rival.facts['birth_city']} in "
                f"{rival.facts['birth_year']}.",
                f"{_cap(pro)} later taught for several years near the market of {moved.name}.",
            ]
        )
        paragraphs.append(
            [
                f"Letters between {short} and {rival.name.split()[0]} {rival.name.split()[1]} "
                f"survive in the archive of {_other(rng, by_kind['place']).name}.",
                f"A street in {f['birth_city']} is named in {pos} honour.",
            ]
        )
    elif e.kind == "place":
        neighbour = _other(rng, by_kind["place"], e.name)
        guild = _other(rng, by_kind["org"])
        paragraphs.append(
            [
                f"The neighbouring city of {neighbour.name} lies in the "
                f"{neighbour.facts['region']} region and was founded in "
                f"{neighbour.facts['founded']}.",
                f"The oldest guild of the city, the {guild.name}, was founded in "
                f"{guild.facts['founded']}.",
                f"Its market draws visitors each winter, and a stone bridge crosses the "
                f"{f['river']} near the old district.",
            ]
        )
    elif e.kind == "org":
        sister = _other(rng, by_kind["org"], e.name)
        kind_word = e.name.split()[-1].lower()
        paragraphs.append(
            [
                f"Its sister organisation, the {sister.name}, was founded in "
                f"{sister.facts['founded']} by {sister.facts['founder']} and is headquartered "
                f"in {sister.facts['hq']}.",
                f"The {kind_word} had about {e.extra['members']} members at its height.",
                f"Its records describe several early years of correspondence with "
                f"{_other(rng, by_kind['person'], f['founder']).name}.",
            ]
        )
    elif e.kind == "work":
        form = e.extra["form"]
        other = _other(rng, by_kind["work"], e.name)
        paragraphs.append(
            [
                f"Critics praised the {form.lower()} when it was first shown, though "
                f"scholars debate its origins.",
                f"It is often compared with the {other.name}, which was completed in "
                f"{other.facts['year']} and first presented in {other.facts['premiere']}.",
                f"A revised version was held for many years in the library of "
                f"{_other(rng, by_kind['place'], f['premiere']).name}.",
            ]
        )
    else:
        other = _other(rng, by_kind["event"], e.name)
        paragraphs.append(
            [
                f"Delegates travelled from {_other(rng, by_kind['place'], f['city']).name} and "
                f"{_other(rng, by_kind['place'], f['city']).name} to attend.",
                f"Chroniclers often confuse it with the {other.name}, which took place in "
                f"{other.facts['city']} in {other.facts['year']}.",
                "Some accounts describe an agreement that ended the gathering.",
            ]
        )
    return "\n\n".join(" ".join(p) for p in paragraphs)


# ---- reading search results ------------------------------------------------------------


def read_fact(
    hits: Sequence[Mapping[str, str]], kind: str, relation: str, subject: str
) -> str | None:
    """Read ``relation`` of ``subject`` from the hits a search showed (its call's
    ``data``: ``{"title", "text"}`` records), as a careful reader would: only from the
    subject's own article, only from the sentence stating that fact."""
    rel = RELATIONS[kind][relation]
    pattern = re.compile(rel.pattern.replace("{s}", "(?:The )?" + re.escape(subject)))
    for hit in hits:
        if hit["title"] != subject:
            continue
        match = pattern.search(hit["text"])
        if match:
            return match.group(1)
    return None


def subject_text(entity: Entity) -> str:
    """The subject as questions write it (``"the Vantari Guild"``)."""
    return entity.mention


def question_fields(entity: Entity) -> dict[str, Any]:
    """Template fields of a question about ``entity``."""
    fields: dict[str, Any] = {"s": entity.mention}
    if entity.kind == "work":
        participle, noun = _WORK_FORMS[entity.extra["form"]]
        fields.update(creator=noun, verb=_VERB_OF_PARTICIPLE[participle], participle=participle)
    return fields
