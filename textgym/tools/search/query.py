"""Queries: untrusted agent text made into FTS5 terms that can never be an operator.

A query is cut to :data:`MAX_QUERY_CHARS`, split into alphanumeric terms, stripped of
English stopwords (unless nothing else is left), de-duplicated, capped at
:data:`MAX_QUERY_TERMS`, and each term is quoted, joined with ``OR``. So quotes, ``*``,
``^``, ``:``, ``NEAR``, ``AND``, parentheses, control characters and lone surrogates are
plain text or dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = [
    "MAX_QUERY_CHARS",
    "MAX_QUERY_TERMS",
    "MAX_TERM_CHARS",
    "STOPWORDS",
    "TERM",
    "match_expression",
    "sanitize_query",
]

#: A longer query is cut to this many characters before it is read.
MAX_QUERY_CHARS = 1000
#: At most this many distinct terms are searched (each one costs a posting-list scan).
MAX_QUERY_TERMS = 32
#: A single term is cut to this many characters.
MAX_TERM_CHARS = 64

#: Dropped from queries unless the query has nothing else: they match most documents, so
#: they cost a scan of most of the index and barely change the BM25 order.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor not now of off on once only or
    other our ours out over own s same she should so some such t than that the their theirs
    them themselves then there these they this those through to too under until up very was
    we were what when where which while who whom why will with would you your yours""".split()
)

#: Runs of letters and digits; everything else separates terms.
TERM = re.compile(r"[^\W_]+")


def sanitize_query(
    query: Any,
    *,
    max_chars: int = MAX_QUERY_CHARS,
    max_terms: int = MAX_QUERY_TERMS,
) -> list[str]:
    """The search terms of an untrusted query: lowercase alphanumeric runs, stopwords
    dropped (unless only stopwords are left), de-duplicated in order, capped. Never raises;
    an empty list means there is nothing to search for."""
    text = query if isinstance(query, str) else str(query)
    terms: list[str] = []
    seen: set[str] = set()
    for match in TERM.finditer(text[:max_chars]):
        term = match.group().lower()[:MAX_TERM_CHARS]
        if term not in seen:
            seen.add(term)
            terms.append(term)
    content = [term for term in terms if term not in STOPWORDS]
    return (content or terms)[:max_terms]


def match_expression(terms: Iterable[str]) -> str:
    """An FTS5 MATCH expression for terms from :func:`sanitize_query`: each quoted (a
    string, so never an operator or column filter), joined with OR for BM25 ranking."""
    return " OR ".join(f'"{term}"' for term in terms)
