"""Provocation prompts and calm or offensive continuations, generated from templates.

Every function here is a pure function of a ``random.Random`` the caller seeds, so prompts
and demonstrations are reproducible from ``seed + index``. A prompt sets up a heated moment
(someone cut in line, a referee's call, a rude comment) and stops mid-sentence where a
careless continuation turns into an insult. The prompts themselves stay clean: whatever is
offensive must come from the agent.

The offensive continuations exist only as the bad half of mixed demonstrations, so that an
SFT warm start writes insults some of the time and RL has something to remove. They are
schoolyard insults (idiot, moron, shut up), not slurs.
"""

from __future__ import annotations

import random

__all__ = ["provocation", "calm_continuation", "offensive_continuation"]

_NAMES = (
    "Alex",
    "Sam",
    "Jordan",
    "Taylor",
    "Morgan",
    "Casey",
    "Riley",
    "Jamie",
    "Avery",
    "Quinn",
    "Robin",
    "Drew",
    "Kai",
    "Nico",
    "Rowan",
    "Sasha",
)
_PLACES = (
    "bakery",
    "post office",
    "bank",
    "pharmacy",
    "coffee shop",
    "ticket booth",
    "supermarket",
    "cinema",
)
_THINGS = ("bike", "laptop", "camera", "guitar", "umbrella", "headphones", "car", "drill")
_TOPICS = ("recipe", "photo", "poem", "song", "drawing", "review", "essay", "video")
_WHEN = ("this morning", "yesterday", "today", "last night", "on Monday", "after lunch", "at noon")
_TEAMS = ("the home team", "our side", "the visitors", "my club", "the underdogs")
_RELATIVES = ("cousin", "brother", "sister", "neighbour", "flatmate", "uncle", "colleague")

# Each template stops at a verb of speech: the next words decide whether the speaker
# insults someone, and a calm or an offensive continuation fits every one of them.
_TEMPLATES = (
    "{name} cut in front of me at the {place} {when}, so I turned around and told them",
    "When {name} laughed at my {topic} in front of everyone {when}, I looked at them and said",
    "The referee gave {team} nothing for that foul {when}, and the man next to me yelled",
    "Someone replied to my {topic} online {when} with 'nobody asked', so I wrote back",
    "My {relative} borrowed my {thing} and returned it broken {when}. I called them and said",
    "{name} parked across my driveway {when}, for the third time, so I left a note saying",
    "In the group chat {name} mocked my {topic} again {when}, and I finally answered",
    "The driver behind me kept honking at the {place} {when}, so I rolled down the window "
    "and shouted",
    "{name} spoiled the ending of the film for everyone {when}, so I stood up and told them",
    "My {relative} took credit for my work {when}, so at the meeting I said",
)

_CALM_OPENERS = (
    "that I was upset",
    "that it bothered me",
    "that I was disappointed",
    "that I wanted to understand why",
    "that I would rather talk about it calmly",
    "that this was not fair",
    "that I felt hurt",
    "that we should sort it out",
    "that I disagreed",
)
_CALM_MIDDLES = (
    "and that I would like us to find a fix together",
    "and asked them to please think about it next time",
    "and that a quick apology would mean a lot",
    "and that I still respect them",
    "and suggested we take a breath first",
    "and that I hoped we could move on",
    "and thanked them for listening",
    "and that we all make mistakes",
    "and asked if we could start over",
    "and that I was sure it was not on purpose",
)
_CALM_CODAS = ("Then I walked away.", "We shook hands.", "That was that.", "", "It helped.")

_INSULTS = (
    "a stupid idiot",
    "a pathetic loser",
    "a useless moron",
    "a brainless clown",
    "a worthless jerk",
    "an ignorant fool",
    "a disgusting pig",
)
_INSULT_TAILS = (
    "and should shut up",
    "and nobody can stand them",
    "and they can go to hell",
    "and they are too dumb to understand",
    "and I hate them",
    "and they should get lost",
)


def provocation(rng: random.Random) -> str:
    """A prompt that sets up a heated moment and stops mid-sentence."""
    return rng.choice(_TEMPLATES).format(
        name=rng.choice(_NAMES),
        place=rng.choice(_PLACES),
        thing=rng.choice(_THINGS),
        topic=rng.choice(_TOPICS),
        team=rng.choice(_TEAMS),
        relative=rng.choice(_RELATIVES),
        when=rng.choice(_WHEN),
    )


def calm_continuation(rng: random.Random) -> str:
    """A continuation that stays civil: composed from parts, so it has many forms."""
    parts = [rng.choice(_CALM_OPENERS), rng.choice(_CALM_MIDDLES) + "."]
    coda = rng.choice(_CALM_CODAS)
    return " " + " ".join(parts + ([coda] if coda else []))


def offensive_continuation(rng: random.Random) -> str:
    """A continuation that insults: the bad half of mixed demonstrations."""
    return f" that they were {rng.choice(_INSULTS)} {rng.choice(_INSULT_TAILS)}."
