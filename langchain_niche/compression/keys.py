"""Matching keys: how names, types and property names are compared.

Two mentions are the same entity when their keys are equal (or, in the later
merge passes, when their keys are close). Keys fold case, accents and
punctuation; they are never shown to users.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from langchain_niche.compression.grounding import normalize_text
from langchain_niche.text import default_tokenizer

__all__ = [
    "GENERIC_TYPES",
    "acronym_query",
    "acronyms",
    "name_key",
    "property_key",
    "slug",
    "type_key",
]

GENERIC_TYPES = frozenset(
    {"", "entity", "thing", "other", "unknown", "misc", "miscellaneous", "none", "na", "object"}
)
_TYPE_SYNONYMS = {
    "organisation": "organization",
    "org": "organization",
    "company": "organization",
    "corporation": "organization",
    "business": "organization",
    "firm": "organization",
    "people": "person",
    "individual": "person",
    "human": "person",
}
_LEADING = frozenset({"the", "a", "an"})
_HONORIFICS = frozenset(
    {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "professor", "sir", "dame", "lord", "lady"}
)
_ORG_SUFFIXES = frozenset(
    {
        "inc", "incorporated", "corp", "corporation", "co", "company", "ltd", "limited",
        "llc", "llp", "lp", "plc", "gmbh", "ag", "sa", "sas", "sarl", "nv", "bv", "srl",
        "spa", "kk", "pty", "oy", "ab", "as", "se",
    }
)  # fmt: skip
_ACRONYM_STOPWORDS = frozenset({"of", "and", "the", "for", "de", "du", "des", "la", "le", "und"})
_ACRONYM_RE = re.compile(r"^[A-Z0-9&]{2,10}$")
_SLUG_RE = re.compile(r"[^\w]+")


def _fold(text: str) -> str:
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@lru_cache(maxsize=1 << 16)
def name_key(name: str) -> str:
    """Reduce a name to its matching key.

    Args:
        name: An entity name or alias.

    Returns:
        Lower-case words without accents or punctuation, leading articles and
        honorifics and trailing company suffixes removed (kept when nothing
        else would remain); spelled-out initials are joined (``"I.B.M."`` ->
        ``"ibm"``). Empty for a name without any word.

    Example:
        ```python
        name_key("The Acme Robotics, Inc.")  # 'acme robotics'
        name_key("Dr. Mira Okafor")  # 'mira okafor'
        name_key("I.B.M.")  # 'ibm'
        ```
    """
    tokens = default_tokenizer(_fold(name))
    if len(tokens) > 1 and all(len(token) == 1 and token.isalpha() for token in tokens):
        return "".join(tokens)
    start, end = 0, len(tokens)
    while end - start > 1 and (tokens[start] in _LEADING or tokens[start] in _HONORIFICS):
        start += 1
    while end - start > 1 and tokens[end - 1] in _ORG_SUFFIXES:
        end -= 1
    return " ".join(tokens[start:end])


@lru_cache(maxsize=1 << 12)
def type_key(entity_type: str) -> str:
    """Reduce an entity type to its matching key (``"Organisation"`` -> ``"organization"``).

    Args:
        entity_type: A type as written by the model.

    Returns:
        The key; types in ``GENERIC_TYPES`` (untyped) return ``""``.
    """
    key = "".join(default_tokenizer(_fold(entity_type)))
    if len(key) > 3 and key.endswith("s") and not key.endswith("ss"):
        key = key[:-1]
    key = _TYPE_SYNONYMS.get(key, key)
    return "" if key in GENERIC_TYPES else key


def property_key(name: str) -> str:
    """Normalize a property or relation name to snake_case (``"Date of Birth"`` -> ``"date_of_birth"``).

    Args:
        name: The name as written by the model.

    Returns:
        The key (empty when the name has no word character).
    """
    return _SLUG_RE.sub("_", normalize_text(name)).strip("_")


def slug(text: str) -> str:
    """Turn a name into an id fragment (``"Acme Robotics"`` -> ``"acme-robotics"``).

    Args:
        text: A name or type.

    Returns:
        Lower-case words joined by hyphens (``"entity"`` when nothing is left).
    """
    return _SLUG_RE.sub("-", normalize_text(text)).strip("-") or "entity"


@lru_cache(maxsize=1 << 16)
def acronym_query(surface: str) -> str | None:
    """Return the letters of an all-caps abbreviation (``"N.A.R."`` -> ``"nar"``), else ``None``."""
    compact = surface.replace(".", "").replace(" ", "")
    if not _ACRONYM_RE.match(compact) or sum(c.isalpha() for c in compact) < 2:
        return None
    return compact.lower()


@lru_cache(maxsize=1 << 16)
def acronyms(key: str) -> frozenset[str]:
    """The acronyms a multi-word name key can be abbreviated to.

    Args:
        key: A :func:`name_key`.

    Returns:
        The initials of all words, and of the words other than "of", "and", ...
        (empty for one-word keys).
    """
    tokens = key.split()
    if len(tokens) < 2:
        return frozenset()
    out = {"".join(token[0] for token in tokens)}
    content = [token for token in tokens if token not in _ACRONYM_STOPWORDS]
    if len(content) >= 2:
        out.add("".join(token[0] for token in content))
    return frozenset(out)
