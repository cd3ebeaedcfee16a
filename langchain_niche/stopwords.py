"""Stop-word lists: words too common to say anything about similarity.

:data:`ENGLISH_STOPWORDS` is this package's own list of English function words
(articles, pronouns, auxiliaries, prepositions, conjunctions and a few very common
adverbs), lower-cased. It deliberately leaves out negations ("not", "no", "never")
and question words ("what", "why", "how"...), which often carry the intent of a
short input. Pass ``stopwords="english"`` to a selector to drop them, or any
collection of your own.
"""

from __future__ import annotations

from collections.abc import Collection

from langchain_niche.errors import InvalidParameterError, preview

__all__ = ["ENGLISH_STOPWORDS", "StopwordsSpec", "resolve_stopwords"]

ENGLISH_STOPWORDS: frozenset[str] = frozenset(
    """
    a an the
    i me my mine myself we us our ours ourselves you your yours yourself yourselves
    he him his himself she her hers herself it its itself they them their theirs
    themselves one ones
    this that these those there here
    am is are was were be been being
    have has had having do does did doing done
    will would shall should can could may might must
    of in on at by for with about against between into through during before after
    above below to from up down out off over under again further onto upon within
    without across along around among toward towards via per than
    and or but nor so yet as if then else because while until unless although though
    whether
    s t d ll m re ve
    also just only very too quite rather really such same other another own each
    both all any some few more most much many several
    its etc
    """.split()  # noqa: SIM905 - a word list reads better than a literal of 170 strings
)
"""Our English stop words (lower-case); see the module docstring for what is left out."""

StopwordsSpec = str | Collection[str] | None
"""``None`` (keep every token), ``"english"``, or a collection of words."""


def resolve_stopwords(spec: StopwordsSpec) -> frozenset[str] | None:
    """Turn a ``stopwords`` argument into a lower-cased set (``None`` for no filtering).

    Args:
        spec: ``None``, ``"english"`` or a collection of words.

    Returns:
        The lower-cased stop words, or ``None``.

    Raises:
        InvalidParameterError: An unknown list name, or a collection holding
            something other than strings.
    """
    if spec is None:
        return None
    if isinstance(spec, str):
        if spec == "english":
            return ENGLISH_STOPWORDS
        msg = f"stopwords must be None, 'english' or a collection of words, got {spec!r}"
        raise InvalidParameterError(msg, name="stopwords", value=spec)
    if not isinstance(spec, Collection) or not all(isinstance(word, str) for word in spec):
        msg = f"stopwords must be None, 'english' or a collection of words, got {preview(spec)}"
        raise InvalidParameterError(msg, name="stopwords", value=spec)
    return frozenset(word.lower() for word in spec)
