"""Command line options: value parsers, the argparse parser, and options as selector settings."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from langchain_niche._cli_input import DataError, UsageError
from langchain_niche.selectors.minhash import MinHashExampleSelector

__all__ = ["build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse, with errors as one ``error:`` line (exit status 2) instead of usage text."""

    def error(self, message: str) -> NoReturn:
        msg = f"{message} (see {self.prog} --help)"
        raise UsageError(msg)


# -- option values -------------------------------------------------------------------------
def _keys(value: str | None) -> list[str] | None:
    return [key.strip() for key in value.split(",") if key.strip()] if value else None


def _filter_pair(value: str) -> tuple[str, str]:
    field, sep, text = value.partition("=")
    if not sep or not field.strip():
        msg = f"--filter takes FIELD=VALUE, got {value!r}"
        raise argparse.ArgumentTypeError(msg)
    return field.strip(), text


def _filter_keys_option(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--filter-keys", help=f"fields that scope {what}, comma-separated")


def _ngrams(value: str) -> tuple[int, int]:
    lo, _, hi = value.partition(",")
    try:
        low, high = int(lo), int(hi or lo)
    except ValueError:
        msg = f"must look like 1,2; got {value!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not 1 <= low <= high <= 16:
        msg = f"must be MIN,MAX with 1 <= MIN <= MAX <= 16; got {value!r}"
        raise argparse.ArgumentTypeError(msg)
    return low, high


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or number < minimum:
            msg = f"must be an integer >= {minimum}; got {value!r}"
            raise argparse.ArgumentTypeError(msg)
        return number

    parse.__name__ = "integer"
    return parse


def _unit(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not 0.0 <= number <= 1.0:
        msg = f"must be a number in [0, 1]; got {value!r}"
        raise argparse.ArgumentTypeError(msg)
    return number


def _positive_unit(value: str) -> float:
    number = _unit(value)
    if number == 0.0:
        msg = f"must be a number in (0, 1]; got {value!r}"
        raise argparse.ArgumentTypeError(msg)
    return number


def _stopwords(value: str) -> str | list[str] | None:
    if value.strip().lower() == "none":
        return None
    if value.strip().lower() == "english":
        return "english"
    words = _keys(value)
    if not words:
        msg = f"must be 'english', 'none' or comma-separated words; got {value!r}"
        raise argparse.ArgumentTypeError(msg)
    return words


def _selection_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The selection options given on the command line, as selector settings."""
    settings: dict[str, Any] = {}
    for name in ("fallback", "threshold"):
        value = getattr(args, name)
        if value is not None:
            settings[name] = value
    if args.similarity is not None:
        settings["rerank"] = args.similarity
    return settings


def _stopwords_key(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else sorted(value)


def _check_stopwords(args: argparse.Namespace, selector: MinHashExampleSelector) -> None:
    """``query --stopwords`` must repeat the index's stop words (they shape its tokens)."""
    if args.stopwords is _UNSET:
        return
    if _stopwords_key(args.stopwords) != _stopwords_key(selector.stopwords):
        built = selector.stopwords
        shown = (
            "none"
            if built is None
            else built
            if isinstance(built, str)
            else ",".join(sorted(built))
        )
        msg = (
            f"the index was built with --stopwords {shown}; a query cannot change them "
            "(rebuild the index with the stop words you want)"
        )
        raise DataError(msg)


_UNSET: Any = object()


# -- the parser ----------------------------------------------------------------------------
def _index_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--num-perm", type=_int_at_least(2), default=128, help="MinHash permutations (128)"
    )
    p.add_argument("--seed", type=_int_at_least(0), default=1, help="MinHash seed (1)")
    p.add_argument("--ngram-range", type=_ngrams, default=(1, 1), help="e.g. 1,2 (1,1)")


def _store_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--redis-url", help="use the Redis index at this URL instead of a file")
    p.add_argument("--index-name", default="default", help="Redis index name (default)")


def _index_source(p: argparse.ArgumentParser) -> None:
    """The index a command reads: a file, or a Redis index with ``--redis-url``."""
    p.add_argument("index", nargs="?", help="index file (or use --redis-url)")
    _store_options(p)


def _stopwords_option(p: argparse.ArgumentParser, stored: str) -> None:
    p.add_argument(
        "--stopwords",
        type=_stopwords,
        default=_UNSET,
        help=f"'english', 'none' or comma-separated words to ignore ({stored})",
    )


def _selection_options(p: argparse.ArgumentParser, stored: str) -> None:
    _stopwords_option(p, stored)
    p.add_argument(
        "--similarity",
        choices=("jaccard", "minhash"),
        help=f"score by exact Jaccard or by the MinHash estimate ({stored})",
    )
    p.add_argument(
        "--fallback",
        choices=("probe", "exact", "none"),
        help=f"when banding finds fewer than k examples ({stored})",
    )
    p.add_argument("--threshold", type=_unit, help=f"minimum similarity in [0, 1] ({stored})")


def _add_build(sub: Any, run: Callable[[argparse.Namespace], int]) -> None:
    build = sub.add_parser("build", help="index a JSONL file of examples")
    build.add_argument("input", help="JSONL file of example objects ('-' for stdin)")
    build.add_argument("-o", "--output", help="index file to write (e.g. x.niche.zip)")
    build.add_argument("--input-keys", required=True, help="compared fields, comma-separated")
    build.add_argument("--id-key", help="take example ids from this field")
    _filter_keys_option(build, "every selection (saved with the index; never compared)")
    build.add_argument(
        "--lsh-threshold", type=_positive_unit, default=0.5, help="banding target (0.5)"
    )
    build.add_argument(
        "--batch-size", type=_int_at_least(1), default=10_000, help="examples per step (10000)"
    )
    build.add_argument("--allow-empty", action="store_true", help="accept an empty input")
    build.add_argument("--no-progress", action="store_true", help="no progress output")
    _index_options(build)
    _selection_options(build, "saved with the index")
    _store_options(build)
    build.add_argument(
        "--redis-shards",
        type=_int_at_least(1),
        help="shards of a new Redis index (default: one per master; fixed at creation)",
    )
    build.add_argument(
        "--redis-bucket-bits",
        type=_int_at_least(0),
        help="postings buckets per band and shard of a new Redis index, as bits (default 10)",
    )
    build.add_argument("--json", action="store_true", help="print the summary as JSON")
    build.set_defaults(run=run)


def _add_inspect(sub: Any, run: Callable[[argparse.Namespace], int]) -> None:
    inspect = sub.add_parser("inspect", help="print an index's size and settings")
    _index_source(inspect)
    inspect.add_argument("--audit", action="store_true", help="check every example (Redis)")
    inspect.add_argument("--json", action="store_true", help="print the summary as JSON")
    inspect.set_defaults(run=run)


def _add_query(sub: Any, run: Callable[[argparse.Namespace], int]) -> None:
    query = sub.add_parser("query", help="select the examples most similar to a text")
    _index_source(query)
    query.add_argument("text", help="input text (or a JSON object of fields with --json)")
    query.add_argument("-k", type=_int_at_least(1), default=4, help="examples to select (4)")
    _filter_keys_option(query, "the selection (default: as built)")
    query.add_argument(
        "--filter",
        action="append",
        type=_filter_pair,
        default=[],
        metavar="FIELD=VALUE",
        help="only examples whose FIELD is the text VALUE (repeat: AND; same field: any of them); "
        "also supplies a filter key missing from the input",
    )
    _selection_options(query, "default: as built")
    query.add_argument(
        "--json",
        action="store_true",
        help="machine mode: TEXT is a JSON object of fields; one JSON line per hit",
    )
    query.set_defaults(run=run)


def _add_dedupe(sub: Any, run: Callable[[argparse.Namespace], int]) -> None:
    dedupe = sub.add_parser("dedupe", help="remove near-duplicates from a JSONL file")
    dedupe.add_argument("input", help="JSONL file ('-' for stdin)")
    dedupe.add_argument("-o", "--output", help="output JSONL (default: stdout)")
    dedupe.add_argument(
        "--threshold", type=_positive_unit, default=0.9, help="Jaccard similarity in (0, 1] (0.9)"
    )
    dedupe.add_argument("--input-keys", help="compared fields (default: all)")
    _filter_keys_option(dedupe, "the examples: different scopes are never merged")
    _stopwords_option(dedupe, "default: none")
    dedupe.add_argument("--allow-empty", action="store_true", help="accept an empty input")
    dedupe.add_argument("--no-progress", action="store_true", help="no progress output")
    _index_options(dedupe)
    dedupe.set_defaults(run=run)


def build_parser(
    commands: Mapping[str, Callable[[argparse.Namespace], int]],
) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="langchain-niche",
        description="Build, inspect and query MinHash-LSH example indexes; deduplicate JSONL.",
        epilog="Exit status: 0 ok, 1 input or index rejected, 2 bad command line, 130 interrupted.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_build(sub, commands["build"])
    _add_inspect(sub, commands["inspect"])
    _add_query(sub, commands["query"])
    _add_dedupe(sub, commands["dedupe"])
    return parser
