r"""Command line: build, inspect and query MinHash-LSH indexes, deduplicate JSONL files.

``python -m langchain_niche --help`` (or the ``langchain-niche`` console script)::

    python -m langchain_niche build examples.jsonl --input-keys question -o tickets.niche.zip
    python -m langchain_niche build examples.jsonl --input-keys question \\
        --redis-url redis://localhost:6379/0 --index-name tickets
    python -m langchain_niche inspect tickets.niche.zip
    python -m langchain_niche query tickets.niche.zip "my password does not work" -k 3
    python -m langchain_niche dedupe answers.jsonl -o answers.dedup.jsonl --threshold 0.9

Output is for people by default (aligned columns, rounded scores); ``--json``
prints the machine format instead (``build``/``inspect``: one JSON object;
``query``: TEXT is a JSON object of fields and each hit is one JSON line).

Errors are one ``error:`` line on stderr, never a traceback, with positions as
1-based line numbers of the input file. Exit status: 0 on success, 1 when what
the command reads is rejected (a missing, unreadable or malformed file, an
example without the compared fields, a missing Redis index, an unreachable
server), 2 when the command line itself is wrong (an unknown option, a value
out of range, malformed ``--json`` text), 130 when interrupted. ``-o`` files
are replaced atomically: an interrupted run leaves the previous file intact.

Long work shows a progress bar on a terminal when ``tqdm`` is installed (``pip
install "langchain-niche[cli]"``); otherwise a plain progress line goes to
stderr every two seconds (``--no-progress``: none).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, NoReturn, TextIO

from langchain_niche._atomic import atomic_writer
from langchain_niche.dedupe import dedupe_examples
from langchain_niche.errors import InvalidExampleError, InvalidParameterError, NicheError
from langchain_niche.minhash.redis.url import check_index_name
from langchain_niche.selectors.minhash import MinHashExampleSelector

__all__ = ["main"]

ProgressUpdate = Callable[[int], None]

MAX_NESTING = 64
"""Deepest nesting of JSON arrays and objects accepted in an input line."""

_EXIT_DATA = 1
_EXIT_USAGE = 2
_EXIT_INTERRUPTED = 130
_CELL_MIN = 12


class UsageError(Exception):
    """The command line is wrong (exit status 2)."""


class DataError(Exception):
    """What the command reads is rejected (exit status 1)."""


class _Parser(argparse.ArgumentParser):
    """argparse, with errors as one ``error:`` line (exit status 2) instead of usage text."""

    def error(self, message: str) -> NoReturn:
        msg = f"{message} (see {self.prog} --help)"
        raise UsageError(msg)


class _PlainProgress:
    """A stand-in for tqdm: a line on stderr at most every two seconds."""

    def __init__(self, total: int, desc: str, stream: TextIO) -> None:
        self.total, self.desc, self.stream = total, desc, stream
        self.done = 0
        self.last = 0.0

    def update(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self.last >= 2.0 or self.done >= self.total:
            self.last = now
            self.stream.write(f"{self.desc}: {self.done:,}/{self.total:,}\n")
            self.stream.flush()

    def close(self) -> None:
        """Nothing to release."""


@contextmanager
def _progress(total: int, desc: str, *, enabled: bool) -> Iterator[ProgressUpdate]:
    if not enabled:
        yield lambda _count: None
        return
    bar: Any = _PlainProgress(total, desc, sys.stderr)  # log-friendly lines
    if sys.stderr.isatty():  # a bar only on a terminal
        try:
            from tqdm import tqdm  # noqa: PLC0415 - optional dependency
        except ImportError:
            pass
        else:
            bar = tqdm(total=total, desc=desc, unit="ex", file=sys.stderr, leave=False)
    try:
        yield bar.update
    finally:
        bar.close()


# -- reading input -------------------------------------------------------------------------
@dataclass
class _Input:
    """The examples of a JSONL file and the 1-based line each came from."""

    name: str
    examples: list[dict[str, Any]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)

    def line_of(self, index: int) -> int | None:
        return self.lines[index] if 0 <= index < len(self.lines) else None


def _nesting_and_text_ok(value: Any) -> str | None:
    """Why ``value`` is unusable (too deep, or a string that is not valid Unicode), or None."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return f"a string holds an unpaired surrogate escape ({item[:40]!r})"
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > MAX_NESTING:
            return f"nested deeper than {MAX_NESTING} levels"
        if isinstance(item, dict):
            stack.extend((key, depth) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
        else:
            stack.extend((child, depth + 1) for child in item)
    return None


def _parse_line(raw: bytes, where: str, first: bool) -> dict[str, Any] | None:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"{where}: not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
        raise InvalidExampleError(msg) from None
    if first:
        line = line.removeprefix("\ufeff")
    if not line.strip():
        return None
    try:
        value = json.loads(line, parse_constant=_no_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        msg = f"{where}: not JSON: {exc.msg} (column {exc.colno})"
        raise InvalidExampleError(msg) from None
    except _NotFiniteError as exc:
        msg = f"{where}: {exc} is not a finite number (JSON has no NaN or Infinity)"
        raise InvalidExampleError(msg) from None
    except RecursionError:
        msg = f"{where}: JSON nested deeper than {MAX_NESTING} levels"
        raise InvalidExampleError(msg) from None
    if not isinstance(value, dict):
        msg = f"{where}: expected a JSON object, got {_json_kind(value)}"
        raise InvalidExampleError(msg)
    # cheap gates: only lines with many brackets or with escapes need the full walk
    if line.count("[") + line.count("{") > MAX_NESTING or "\\u" in line.lower():
        problem = _nesting_and_text_ok(value)
        if problem is not None:
            msg = f"{where}: {problem}"
            raise InvalidExampleError(msg)
    return value


class _NotFiniteError(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _NotFiniteError(name)


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _NotFiniteError(text)
    return number


def _json_kind(value: Any) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number")


def _read(path: str) -> _Input:
    """Read a JSON-lines file of objects (``-`` for stdin); blank lines are skipped."""
    name = "<stdin>" if path == "-" else path
    out = _Input(name)
    if path == "-":
        _read_stream(sys.stdin.buffer, out)
        return out
    target = Path(path)
    if target.is_dir():
        msg = f"{path}: is a directory, not a JSONL file"
        raise DataError(msg)
    with target.open("rb") as stream:
        _read_stream(stream, out)
    return out


def _read_stream(stream: BinaryIO, out: _Input) -> None:
    for line_no, raw in enumerate(stream, start=1):
        value = _parse_line(raw, f"{out.name}:{line_no}", line_no == 1)
        if value is not None:
            out.examples.append(value)
            out.lines.append(line_no)


def read_jsonl(path: str) -> list[dict[str, Any]]:
    """Read a JSON-lines file of objects (``-`` for stdin); blank lines are skipped.

    Args:
        path: The file.

    Returns:
        The objects.

    Raises:
        InvalidExampleError: A line is not UTF-8, not JSON, not an object, or nested
            too deeply (the error names the 1-based line).
    """
    return _read(path).examples


def _require_examples(source: _Input, allow_empty: bool) -> None:
    if not source.examples and not allow_empty:
        msg = f"{source.name}: no examples (the input is empty); pass --allow-empty to accept that"
        raise DataError(msg)


def _at_line(exc: NicheError, source: _Input, offset: int = 0) -> Exception:
    """The error with its batch position replaced by the input file's line number."""
    index = getattr(exc, "index", None)
    if not isinstance(index, int):
        return exc
    line = source.line_of(offset + index)
    if line is None:
        return exc
    text = re.sub(rf"\bexample {index}\b", "example", str(exc), count=1)
    msg = f"{source.name}:{line}: {text}"
    return DataError(msg)


# -- option values -------------------------------------------------------------------------
def _keys(value: str | None) -> list[str] | None:
    return [key.strip() for key in value.split(",") if key.strip()] if value else None


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


# -- opening an index ----------------------------------------------------------------------
def _store_settings(args: argparse.Namespace) -> dict[str, Any]:
    if args.redis_url:
        _check_redis_options(args.redis_url, args.index_name)
        return {"redis_url": args.redis_url, "index_name": args.index_name}
    return {}


def _check_redis_options(url: str, index_name: str) -> None:
    """Reject a malformed --redis-url or --index-name (exit 2) before connecting."""
    from langchain_niche.minhash.redis.url import parse_redis_url  # noqa: PLC0415

    try:
        check_index_name(index_name)
    except InvalidParameterError as exc:
        msg = f"--index-name: {exc}"
        raise UsageError(msg) from None
    try:
        parse_redis_url(url)  # the selector's own parser: the same URLs are accepted
    except ValueError as exc:  # the message shows the URL without its secrets
        msg = f"--redis-url: {exc}"
        raise UsageError(msg) from None


def _check_redis_index(args: argparse.Namespace) -> None:
    """Fail (exit 1) when the Redis index does not exist, instead of creating an empty one."""
    from langchain_niche.minhash.redis.connection import import_redis  # noqa: PLC0415
    from langchain_niche.minhash.redis.storage import RedisLshStorage  # noqa: PLC0415

    storage = RedisLshStorage(import_redis(), args.redis_url, _store_settings(args))
    try:
        exists = storage.execute(("cmd", "EXISTS", storage.prefix + "config"))
    finally:
        storage.close()
    if not exists:
        msg = (
            f"no index named {args.index_name!r} at {storage.safe_url} "
            "(build it with: build FILE --redis-url URL --index-name NAME)"
        )
        raise DataError(msg)


def _open(args: argparse.Namespace, **overrides: Any) -> MinHashExampleSelector:
    if args.redis_url:
        if args.index:
            msg = "give either an index file or --redis-url, not both"
            raise UsageError(msg)
        _check_redis_index(args)
        return MinHashExampleSelector(**_store_settings(args), **overrides)
    if not args.index:
        msg = "give an index file or --redis-url"
        raise UsageError(msg)
    path = Path(args.index)
    if path.is_dir():
        msg = f"{args.index}: is a directory, not an index file"
        raise DataError(msg)
    if not path.exists():
        msg = f"{args.index}: no such index file"
        raise DataError(msg)
    return MinHashExampleSelector.load(path, **overrides)


# -- human-readable output -----------------------------------------------------------------
def _cut(text: str, width: int) -> str:
    """One line of at most ``width`` characters; a cut is marked with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: max(width - 1, 0)] + "\u2026"


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:,.0f}"
    if isinstance(value, bool) or value is None:
        return str(value).lower() if value is not None else "-"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list | tuple):
        return ", ".join(_plain(item) for item in value) or "-"
    if isinstance(value, Mapping):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _flatten(info: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in info.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            rows.extend(_flatten(value, f"{name}."))
        else:
            rows.append((name.replace("_", " "), _plain(value)))
    return rows


def _print_fields(info: Mapping[str, Any]) -> None:
    rows = _flatten(info)
    width = max((len(name) for name, _ in rows), default=0)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]], right: int) -> None:
    """Aligned columns; the first ``right`` columns are right-aligned (numbers)."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        cells = [
            cell.rjust(w) if i < right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


def _print_hits(hits: Sequence[Any]) -> None:
    if not hits:
        print("no example matched (none shares a word with the input and passes --threshold)")
        return
    fields: list[str] = []
    for hit in hits:
        fields.extend(key for key in hit.example if key not in fields)
    total = shutil.get_terminal_size((100, 24)).columns
    fixed = 2 + 2 + 5 + 2 + max(len(str(hit.id)) for hit in hits) + 2
    cell = max(_CELL_MIN, (total - fixed) // max(len(fields), 1) - 2)
    header = ["#", "score", "id", *fields]
    rows = [
        [
            str(rank),
            f"{hit.score:.3f}",
            str(hit.id),
            *(_cut(_plain(hit.example.get(key, "")), cell) for key in fields),
        ]
        for rank, hit in enumerate(hits, start=1)
    ]
    _print_table(header, rows, right=2)


# -- commands ------------------------------------------------------------------------------
def _ids(args: argparse.Namespace, source: _Input) -> list[str] | None:
    if not args.id_key:
        return None
    ids: list[str] = []
    first_line: dict[str, int] = {}
    for example, line in zip(source.examples, source.lines, strict=True):
        value = example.get(args.id_key)
        if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
            got = "no such field" if args.id_key not in example else f"got {value!r}"
            msg = f"{source.name}:{line}: --id-key {args.id_key!r} needs a non-empty string or integer ({got})"
            raise DataError(msg)
        example_id = str(value)
        if example_id in first_line:
            msg = f"{source.name}:{line}: id {example_id!r} is already used on line {first_line[example_id]}"
            raise DataError(msg)
        first_line[example_id] = line
        ids.append(example_id)
    return ids


def _cmd_build(args: argparse.Namespace) -> int:
    if not args.redis_url and not args.output:
        msg = "build needs -o/--output (an index file) or --redis-url"
        raise UsageError(msg)
    if args.output and Path(args.output).is_dir():
        msg = f"-o {args.output}: is a directory; give the index file's name"
        raise UsageError(msg)
    source = _read(args.input)
    _require_examples(source, args.allow_empty)
    ids = _ids(args, source)
    settings: dict[str, Any] = {
        "input_keys": _keys(args.input_keys),
        "num_perm": args.num_perm,
        "lsh_threshold": args.lsh_threshold,
        "seed": args.seed,
        "ngram_range": args.ngram_range,
        **_selection_settings(args),
        **_store_settings(args),
    }
    if args.stopwords is not _UNSET:
        settings["stopwords"] = args.stopwords
    start = time.perf_counter()
    selector = MinHashExampleSelector(**settings)
    examples = source.examples
    with _progress(len(examples), "indexing", enabled=not args.no_progress) as update:
        for lo in range(0, len(examples), args.batch_size):
            part = examples[lo : lo + args.batch_size]
            try:
                selector.add_examples(part, ids=None if ids is None else ids[lo : lo + len(part)])
            except NicheError as exc:
                raise _at_line(exc, source, lo) from exc
            update(len(part))
    info = selector.describe_index()
    info["build_seconds"] = round(time.perf_counter() - start, 3)
    if args.output:
        info["path"] = str(selector.save(args.output))
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    where = info.get("path") or f"Redis index {args.index_name!r}"
    print(f"indexed {len(examples):,} examples from {source.name} into {where}")
    _print_fields(info)
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    selector = _open(args)
    info = selector.describe_index()
    if args.audit:
        info["audit"] = selector.audit()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        _print_fields(info)
    return 0


def _query_input(args: argparse.Namespace, selector: MinHashExampleSelector) -> dict[str, Any]:
    if args.json:
        try:
            query = json.loads(args.text, parse_constant=_no_constant, parse_float=_finite_float)
        except json.JSONDecodeError as exc:
            msg = f"--json: TEXT is not JSON: {exc.msg} (column {exc.colno})"
            raise UsageError(msg) from None
        except _NotFiniteError as exc:
            msg = f"--json: TEXT: {exc} is not a finite number"
            raise UsageError(msg) from None
        except RecursionError:
            msg = f"--json: TEXT is nested deeper than {MAX_NESTING} levels"
            raise UsageError(msg) from None
        if not isinstance(query, dict):
            msg = f"--json: TEXT must be a JSON object of fields, got {_json_kind(query)}"
            raise UsageError(msg)
        problem = _nesting_and_text_ok(query)
        if problem is not None:
            msg = f"--json: TEXT: {problem}"
            raise UsageError(msg)
        return query
    keys = selector.input_keys or []
    if len(keys) != 1:
        msg = f"the index compares the fields {keys}; pass the input as --json '{{...}}'"
        raise UsageError(msg)
    return {keys[0]: args.text}


def _cmd_query(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {"k": args.k, **_selection_settings(args)}
    selector = _open(args, **overrides)
    _check_stopwords(args, selector)
    query = _query_input(args, selector)
    hits = selector.search(query)
    if not args.json:
        _print_hits(hits)
        return 0
    for hit in hits:
        print(
            json.dumps(
                {"id": hit.id, "score": hit.score, "example": hit.example}, ensure_ascii=False
            )
        )
    return 0


def _cmd_dedupe(args: argparse.Namespace) -> int:
    if args.output not in (None, "-") and Path(args.output).is_dir():
        msg = f"-o {args.output}: is a directory; give the output file's name"
        raise UsageError(msg)
    source = _read(args.input)
    _require_examples(source, args.allow_empty)
    examples = source.examples
    with _progress(len(examples), "deduplicating", enabled=not args.no_progress) as update:
        seen = [0]

        def report(done: int, _total: int) -> None:
            update(done - seen[0])
            seen[0] = done

        try:
            kept = dedupe_examples(
                examples,
                args.threshold,
                input_keys=_keys(args.input_keys),
                ngram_range=args.ngram_range,
                stopwords=None if args.stopwords is _UNSET else args.stopwords,
                num_perm=args.num_perm,
                seed=args.seed,
                on_progress=report,
            )
        except NicheError as exc:
            raise _at_line(exc, source) from exc
    _write_jsonl(args.output, kept)
    removed = len(examples) - len(kept)
    print(
        f"kept {len(kept):,} of {len(examples):,} examples ({removed:,} near-duplicates removed)",
        file=sys.stderr,
    )
    return 0


def _write_jsonl(path: str | None, rows: list[dict[str, Any]]) -> None:
    lines = (json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if path in (None, "-"):
        sys.stdout.writelines(lines)
        sys.stdout.flush()
        return
    with atomic_writer(str(path)) as stream:
        stream.writelines(lines)


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


def _add_build(sub: Any) -> None:
    build = sub.add_parser("build", help="index a JSONL file of examples")
    build.add_argument("input", help="JSONL file of example objects ('-' for stdin)")
    build.add_argument("-o", "--output", help="index file to write (e.g. x.niche.zip)")
    build.add_argument("--input-keys", required=True, help="compared fields, comma-separated")
    build.add_argument("--id-key", help="take example ids from this field")
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
    build.add_argument("--json", action="store_true", help="print the summary as JSON")
    build.set_defaults(run=_cmd_build)


def _add_inspect(sub: Any) -> None:
    inspect = sub.add_parser("inspect", help="print an index's size and settings")
    inspect.add_argument("index", nargs="?", help="index file (or use --redis-url)")
    inspect.add_argument("--audit", action="store_true", help="check every example (Redis)")
    _store_options(inspect)
    inspect.add_argument("--json", action="store_true", help="print the summary as JSON")
    inspect.set_defaults(run=_cmd_inspect)


def _add_query(sub: Any) -> None:
    query = sub.add_parser("query", help="select the examples most similar to a text")
    query.add_argument("index", nargs="?", help="index file (or use --redis-url)")
    query.add_argument("text", help="input text (or a JSON object of fields with --json)")
    query.add_argument("-k", type=_int_at_least(1), default=4, help="examples to select (4)")
    _selection_options(query, "default: as built")
    _store_options(query)
    query.add_argument(
        "--json",
        action="store_true",
        help="machine mode: TEXT is a JSON object of fields; one JSON line per hit",
    )
    query.set_defaults(run=_cmd_query)


def _add_dedupe(sub: Any) -> None:
    dedupe = sub.add_parser("dedupe", help="remove near-duplicates from a JSONL file")
    dedupe.add_argument("input", help="JSONL file ('-' for stdin)")
    dedupe.add_argument("-o", "--output", help="output JSONL (default: stdout)")
    dedupe.add_argument(
        "--threshold", type=_positive_unit, default=0.9, help="Jaccard similarity in (0, 1] (0.9)"
    )
    dedupe.add_argument("--input-keys", help="compared fields (default: all)")
    _stopwords_option(dedupe, "default: none")
    dedupe.add_argument("--allow-empty", action="store_true", help="accept an empty input")
    dedupe.add_argument("--no-progress", action="store_true", help="no progress output")
    _index_options(dedupe)
    dedupe.set_defaults(run=_cmd_dedupe)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="langchain-niche",
        description="Build, inspect and query MinHash-LSH example indexes; deduplicate JSONL.",
        epilog="Exit status: 0 ok, 1 input or index rejected, 2 bad command line, 130 interrupted.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in (_add_build, _add_inspect, _add_query, _add_dedupe):
        add(sub)
    return parser


def _error(message: object, status: int) -> int:
    text = " ".join(str(message).split()) or "failed"
    print(f"error: {text}", file=sys.stderr)
    return status


def _os_error(exc: OSError) -> str:
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 1 when the input, index or server is
        rejected, 2 when the command line is wrong, 130 when interrupted.
    """
    try:
        args = _parser().parse_args(argv)
        status: int = args.run(args)
    except SystemExit as exc:  # --help
        status = exc.code if isinstance(exc.code, int) else _error(exc.code, _EXIT_USAGE)
    except (UsageError, InvalidParameterError) as exc:
        status = _error(exc, _EXIT_USAGE)
    except (DataError, NicheError) as exc:
        status = _error(exc, _EXIT_DATA)
    except BrokenPipeError:  # the reader went away (e.g. `| head`): nothing left to say
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout
        status = _EXIT_DATA
    except OSError as exc:
        status = _error(_os_error(exc), _EXIT_DATA)
    except KeyboardInterrupt:
        status = _error("interrupted (an -o file is left as it was)", _EXIT_INTERRUPTED)
    return status
