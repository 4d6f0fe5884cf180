"""The facts of the generated encyclopedia: each fact sentence written and read from one
template, the questions asked about them, and the entities they describe.

Readable facts: each fact is stated once, in a fixed sentence form that names the subject
in full (``"<Name> was born in <City> in <Year>."``); the articles' narrative and
distractor sentences never name the subject in full (:mod:`textgym.envs.wiki_corpus`). So
for the query ``"<Name> born"`` the best-matching sentence of the subject's article (the
search snippet) is exactly the fact sentence, and :func:`read_fact` can read the value back
from the hits of a search, as the oracle does.

Writer and reader share :data:`FACT_SENTENCES`: :func:`fact_sentences` fills a template
with an entity's facts, and :func:`read_fact` turns the same template into a regex, each
field replaced by what its value looks like (:data:`VALUE_PATTERNS`). A new relation is one
template and one value pattern; the two sides cannot drift apart.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FACT_SENTENCES",
    "KINDS",
    "MULTI_HOP",
    "RELATIONS",
    "VALUE_PATTERNS",
    "WORK_FORMS",
    "Chain",
    "Entity",
    "Relation",
    "fact_sentence",
    "fact_sentences",
    "question_fields",
    "read_fact",
    "subject_text",
]

#: Entity kinds and their share of the corpus.
KINDS: dict[str, float] = {
    "person": 0.40,
    "place": 0.12,
    "org": 0.20,
    "work": 0.16,
    "event": 0.12,
}

#: Work form -> (participle used in the fact sentence, creator noun used in questions).
WORK_FORMS: dict[str, tuple[str, str]] = {
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

#: kind -> the fact sentences of its articles' lead, in this order. ``{s}`` is the subject
#: as written in text; every other field is a relation of the kind, or ``a`` (the article
#: before an occupation) or ``participle`` (how a work was made).
FACT_SENTENCES: dict[str, tuple[str, ...]] = {
    "person": (
        "{s} was born in {birth_city} in {birth_year}.",
        "{s} worked as {a} {occupation}.",
        "{s} was employed by the {employer}.",
        "{s} died in {death_year}.",
    ),
    "place": (
        "{s} is a city in the {region} region, on the {river} river.",
        "{s} was founded in {founded}.",
        "{s} has a population of {population}.",
    ),
    "org": (
        "{s} was founded in {founded} by {founder}.",
        "{s} is headquartered in {hq}.",
    ),
    "work": (
        "{s} was {participle} by {creator}.",
        "{s} was completed in {year}.",
        "{s} was first presented in {premiere}.",
    ),
    "event": (
        "{s} took place in {city} in {year}.",
        "{s} was organised by the {organiser}.",
    ),
}

_YEAR, _WORD, _NAME = r"\d\d\d\d", "[A-Z][a-z]+", "[A-Z][a-z]+ [A-Z][a-z]+"
#: field -> regex of its value in text: a year, a city, region or river (one capitalised
#: word), a person or an organisation (two), an occupation (one lowercase word).
VALUE_PATTERNS: dict[str, str] = {
    "birth_city": _WORD,
    "birth_year": _YEAR,
    "occupation": "[a-z]+",
    "a": "an?",
    "employer": _NAME,
    "death_year": _YEAR,
    "region": _WORD,
    "river": _WORD,
    "founded": _YEAR,
    "population": r"[\d,]+",
    "founder": _NAME,
    "hq": _WORD,
    "participle": "(?:" + "|".join(sorted({p for p, _ in WORK_FORMS.values()})) + ")",
    "creator": _NAME,
    "year": _YEAR,
    "premiere": _WORD,
    "city": _WORD,
    "organiser": _NAME,
}


@dataclass(frozen=True)
class Relation:
    """One attribute or relation of an entity kind; its fact sentence is the one of
    :data:`FACT_SENTENCES` that has its field (:func:`fact_sentence`).

    Attributes:
        question: single-hop question template; ``{s}`` is the subject as written in text
            (``"the Vantari Guild"``, ``"Anna Vorkel"``), ``{creator}`` the work's creator
            noun.
        keywords: what a good search adds to the subject's name.
        target: the entity kind of the value, for relations that chain; None for values.
    """

    question: str
    keywords: str
    target: str | None = None


#: kind -> relation -> Relation.
RELATIONS: dict[str, dict[str, Relation]] = {
    "person": {
        "birth_city": Relation("In which city was {s} born?", "born", "place"),
        "birth_year": Relation("In what year was {s} born?", "born"),
        "occupation": Relation("What was the occupation of {s}?", "worked"),
        "employer": Relation("Which organisation employed {s}?", "employed", "org"),
        "death_year": Relation("In what year did {s} die?", "died"),
    },
    "place": {
        "founded": Relation("In what year was {s} founded?", "founded"),
        "population": Relation("What is the population of {s}?", "population"),
        "region": Relation("In which region is {s}?", "region"),
        "river": Relation("On which river does {s} lie?", "river"),
    },
    "org": {
        "founded": Relation("In what year was {s} founded?", "founded"),
        "founder": Relation("Who founded {s}?", "founded", "person"),
        "hq": Relation("In which city is {s} headquartered?", "headquartered", "place"),
    },
    "work": {
        "creator": Relation("Who {verb} {s}?", "{participle}", "person"),
        "year": Relation("In what year was {s} completed?", "completed"),
        "premiere": Relation("In which city was {s} first presented?", "first presented", "place"),
    },
    "event": {
        "year": Relation("In what year did {s} take place?", "took place"),
        "city": Relation("In which city did {s} take place?", "took place", "place"),
        "organiser": Relation("Which organisation organised {s}?", "organised", "org"),
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


# ---- writing ---------------------------------------------------------------------------


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


def fact_sentence(kind: str, relation: str) -> str:
    """The template of the sentence stating ``relation`` of a ``kind`` entity."""
    for template in FACT_SENTENCES[kind]:
        if relation in _fields(template):
            return template
    raise KeyError(f"no fact sentence of a {kind} has the field {relation!r}")


def fact_sentences(entity: Entity) -> list[str]:
    """The entity's fact sentences: each fact once, the subject named in full."""
    values: dict[str, str] = {"s": _cap(entity.mention), **entity.facts}
    if entity.kind == "person":
        values["a"] = "an" if entity.facts["occupation"][0] in "aeiou" else "a"
    if entity.kind == "work":
        values["participle"] = WORK_FORMS[entity.extra["form"]][0]
    return [template.format(**values) for template in FACT_SENTENCES[entity.kind]]


# ---- reading ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _reader(kind: str, relation: str, subject: str) -> re.Pattern[str]:
    """The fact sentence's template as a regex: the subject (with or without a leading
    ``The``) in place of ``{s}``, group 1 the value of ``relation``."""
    parts = [r"\b"]
    for literal, name, _, _ in string.Formatter().parse(fact_sentence(kind, relation)):
        parts.append(re.escape(literal))
        if name == "s":
            parts.append("(?:The )?" + re.escape(subject))
        elif name == relation:
            parts.append(f"({VALUE_PATTERNS[name]})")
        elif name is not None:
            parts.append(f"(?:{VALUE_PATTERNS[name]})")
    return re.compile("".join(parts))


def read_fact(
    hits: Sequence[Mapping[str, str]], kind: str, relation: str, subject: str
) -> str | None:
    """Read ``relation`` of ``subject`` from the hits a search showed (its call's
    ``data``: ``{"title", "text"}`` records), as a careful reader would: only from the
    subject's own article, only from the sentence stating that fact."""
    pattern = _reader(kind, relation, subject)
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
        participle, noun = WORK_FORMS[entity.extra["form"]]
        fields.update(creator=noun, verb=_VERB_OF_PARTICIPLE[participle], participle=participle)
    return fields
