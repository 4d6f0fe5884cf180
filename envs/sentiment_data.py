"""Review openings and mixed-polarity review continuations, generated from templates.

Everything here is a pure function of a ``random.Random`` the caller seeds, so prompts and
demonstrations are reproducible from ``seed + index``. The openings are neutral on purpose:
the sentiment of a review must come from the agent's continuation, not from the prompt.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "opening",
    "continuation",
    "title_of",
    "review_openings",
    "review_corpus",
    "load_openings",
]

_ADJECTIVES = (
    "Silent",
    "Last",
    "Crimson",
    "Hidden",
    "Scarlet",
    "Golden",
    "Frozen",
    "Distant",
    "Western",
    "Quiet",
    "Burning",
    "Hollow",
    "Endless",
    "Eastern",
    "Wild",
    "Midnight",
    "Paper",
    "Glass",
    "Iron",
    "Electric",
    "Secret",
    "Silver",
    "Second",
    "Northern",
    "Velvet",
    "Copper",
    "Amber",
    "Azure",
    "Painted",
    "Final",
)
_NOUNS = (
    "Harbor",
    "Garden",
    "Winter",
    "Signal",
    "Kingdom",
    "River",
    "Letter",
    "Orchard",
    "Mirror",
    "Station",
    "Frontier",
    "Horizon",
    "Island",
    "Lantern",
    "Tide",
    "Empire",
    "Summer",
    "Road",
    "Witness",
    "Machine",
    "Choir",
    "Border",
    "Circus",
    "Hotel",
    "Voyage",
    "Canyon",
    "Archive",
    "Orbit",
    "Lighthouse",
    "Bridge",
)
_GENRES = (
    "drama",
    "noir",
    "sitcom movie",
    "period piece",
    "documentary",
    "road movie",
    "western",
    "science fiction film",
    "animated film",
    "musical",
    "space opera",
    "mystery",
    "biopic",
    "heist movie",
    "fantasy",
)
_OPENINGS = (
    "I watched {title} last night, and",
    "{title} is a {genre}, and",
    "My notes on {title}:",
    "After two hours of {title}, I can say",
    "The {genre} {title} opens slowly, but",
    "Going into {title}, I expected little, and",
    "This {year} {genre} proves that",
    "{title}, directed by {director},",
    "I saw {title} with my family and",
    "About the new {genre} from {director}:",
    "People keep talking about {title}, and",
    "As someone who watches a {genre} every week, I think",
    "The first scene of {title} shows that",
    "About {title} ({year}):",
    "Watching {title} on a Sunday afternoon,",
    "Everyone asked me about {title}, so here goes:",
)
_DIRECTORS = (
    "Ana Ortiz",
    "Jon Baker",
    "Mei Lin",
    "Tom Hale",
    "Sara Novak",
    "Ravi Menon",
    "Lena Berg",
    "Omar Haddad",
    "Kate Moore",
    "Ivan Petrov",
    "Nina Ricci",
    "Paul Ward",
)

_POSITIVE = (
    "it is a wonderful film with brilliant performances",
    "the acting is superb and the story is moving",
    "I loved every minute of it",
    "it is beautiful, funny and deeply touching",
    "the cast is excellent and the ending is perfect",
    "it is a delightful, heartfelt triumph",
    "the score is gorgeous and the script is smart",
    "I enjoyed it so much that I want to see it again",
    "it is one of the best films of the year",
    "the direction is confident and the visuals are stunning",
)
_NEGATIVE = (
    "it is a boring film with terrible performances",
    "the acting is awful and the story is a mess",
    "I hated every minute of it",
    "it is dull, clumsy and painfully slow",
    "the cast is wasted and the ending is stupid",
    "it is a tedious, lifeless failure",
    "the score is annoying and the script is lazy",
    "I regret wasting two hours on it",
    "it is one of the worst films of the year",
    "the direction is sloppy and the visuals are ugly",
)
_POSITIVE_ADJECTIVES = (
    "wonderful",
    "brilliant",
    "superb",
    "excellent",
    "delightful",
    "beautiful",
    "gorgeous",
    "perfect",
    "charming",
    "great",
)
_NEGATIVE_ADJECTIVES = (
    "terrible",
    "awful",
    "boring",
    "dull",
    "ugly",
    "stupid",
    "lazy",
    "annoying",
    "weak",
    "horrible",
)
_ASPECTS = (
    "acting",
    "story",
    "script",
    "score",
    "cast",
    "ending",
    "direction",
    "camera work",
    "dialogue",
    "pacing",
)
_POSITIVE_CODAS = ("Highly recommended.", "A must see.", "Great fun.", "Truly excellent.")
_NEGATIVE_CODAS = ("Avoid it.", "Not worth it.", "A total waste.", "Very disappointing.")


def opening(rng: random.Random) -> str:
    """One neutral review opening, for example ``"I watched The Quiet Harbor last night,
    and"``: 16 frames x 900 titles x genres, years and directors."""
    title = f"The {rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
    return rng.choice(_OPENINGS).format(
        title=title,
        genre=rng.choice(_GENRES),
        year=rng.randrange(1950, 2026),
        director=rng.choice(_DIRECTORS),
    )


def continuation(rng: random.Random, positive: bool, title: str | None = None) -> str:
    """A short continuation of clear polarity, at most 90 bytes.

    A fifth are one of ten fixed clauses and a coda; the rest are composed, ``"{title} is
    a {adjective} film, and the {aspect} is {adjective}."``, naming the review's film
    (``title``; ``"it"`` without one). Composed, one polarity alone has thousands of
    forms, and they depend on the prompt, so a policy trained toward one polarity can
    stay as varied as the mixed demonstrations, greedy or sampled.
    """
    if rng.random() < 0.2:
        clause = rng.choice(_POSITIVE if positive else _NEGATIVE)
        coda = rng.choice(_POSITIVE_CODAS if positive else _NEGATIVE_CODAS)
        return f" {clause}. {coda}"
    adjectives = _POSITIVE_ADJECTIVES if positive else _NEGATIVE_ADJECTIVES
    first, second = rng.choice(adjectives), rng.choice(adjectives)
    article = "an" if first[0] in "aeiou" else "a"
    noun = rng.choice(("film", "movie"))
    return (
        f" {title or 'it'} is {article} {first} {noun}, and the {rng.choice(_ASPECTS)} is {second}."
    )


#: A film title as :func:`opening` writes it ("The Quiet Harbor").
_TITLE = re.compile(r"\bThe [A-Z][a-z]+ [A-Z][a-z]+\b")


def title_of(text: str) -> str | None:
    """The generated film title in an opening, or None (custom prompts may have none)."""
    match = _TITLE.search(text)
    return match.group(0) if match else None


def review_openings(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct openings, the same for the same ``seed``."""
    seen: dict[str, None] = {}
    index = 0
    while len(seen) < n:
        seen.setdefault(opening(random.Random(f"sentiment-opening|{seed}|{index}")), None)
        index += 1
        if index > 100 * n + 1000:
            raise RuntimeError(f"cannot draw {n} distinct openings")
    return list(seen)


def review_corpus(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` mixed-polarity reviews (about half positive), as ``{"text", "positive"}``."""
    reviews = []
    for index in range(n):
        rng = random.Random(f"sentiment-review|{seed}|{index}")
        positive = rng.random() < 0.5
        text = opening(rng)
        text += continuation(rng, positive, title_of(text))
        reviews.append({"text": text, "positive": positive})
    return reviews


def _texts(source: Any) -> Iterable[str]:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"no prompt file or dataset folder at {path}")
        if path.is_dir():
            from datasets import load_from_disk  # optional: pip install textgym[hf]

            yield from _texts(load_from_disk(str(path)))
            return
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                line = line.strip()
                if not line:
                    continue
                if path.suffix == ".jsonl":
                    try:
                        yield from _texts([json.loads(line)])
                    except json.JSONDecodeError as exc:
                        raise ValueError(f"{path}:{number}: not JSON: {exc}") from None
                else:
                    yield line
        return
    for record in source:
        if isinstance(record, str):
            yield record
        elif isinstance(record, Mapping):
            for field in ("prompt", "text", "review"):
                if isinstance(record.get(field), str):
                    yield record[field]
                    break
            else:
                raise ValueError(f"record has no 'prompt', 'text' or 'review' string: {record}")
        else:
            raise TypeError(f"prompts must be strings or records, got {type(record).__name__}")


def load_openings(
    source: Any, min_words: int = 2, max_words: int = 8, seed: int = 0, limit: int | None = None
) -> list[str]:
    """Review openings from your own data: a text file (one per line), a JSONL file or an
    iterable of records (``prompt``, ``text`` or ``review`` field), or a ``datasets`` dataset
    (a saved folder or the object, for example IMDB's ``train`` split). Each text is cut to
    its first ``min_words``..``max_words`` words (drawn per text from ``seed``), as TRL's
    sentiment example cut IMDB reviews into queries. Duplicates are dropped, order is kept.
    """
    if not 1 <= min_words <= max_words:
        raise ValueError(f"need 1 <= min_words <= max_words, got {min_words}, {max_words}")
    out: dict[str, None] = {}
    for index, text in enumerate(_texts(source)):
        words = text.replace("<br />", " ").split()
        if not words:
            continue
        k = random.Random(f"sentiment-cut|{seed}|{index}").randint(min_words, max_words)
        out.setdefault(" ".join(words[:k]), None)
        if limit is not None and len(out) >= limit:
            break
    if not out:
        raise ValueError("no non-empty prompts in the source")
    return list(out)
