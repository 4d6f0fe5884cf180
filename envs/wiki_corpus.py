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

Readable facts: each fact is stated once, in the lead, by a sentence of
:data:`~textgym.envs.wiki_facts.FACT_SENTENCES` that names the subject in full; narrative
and distractor sentences never name the subject in full. So the search snippet for
``"<Name> born"`` is exactly the fact sentence, which
:func:`~textgym.envs.wiki_facts.read_fact` reads back from the same template.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from textgym.envs.wiki_facts import KINDS, WORK_FORMS, Entity, fact_sentences
from textgym.envs.wiki_names import PLACE_ENDINGS, NameBank

__all__ = ["GENERATOR_VERSION", "Encyclopedia", "generate_encyclopedia"]

#: Bumped whenever generation changes; part of the corpus fingerprint.
GENERATOR_VERSION = 1

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
            " ".join(WORK_FORMS),
            " ".join(p + " " + n for p, n in WORK_FORMS.values()),
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
    bank = NameBank(rng, _article_words())

    first_names = bank.draw(max(60, counts["person"] // 8), syllables=(1, 2))
    regions = bank.draw(max(12, counts["place"] // 6), syllables=(2,))
    rivers = bank.draw(max(16, counts["place"] // 3), syllables=(1, 2))
    place_names = bank.draw(counts["place"], syllables=(1, 2), endings=PLACE_ENDINGS)
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
        form = rng.choice(sorted(WORK_FORMS))
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


def _render(e: Entity, rng: random.Random, by_kind: dict[str, tuple[Entity, ...]]) -> str:
    """The article: a lead of facts, then narrative paragraphs with distractor facts. The
    narrative refers to the subject by pronoun, surname or kind only (never in full)."""
    facts = fact_sentences(e)
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
