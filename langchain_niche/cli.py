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
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_niche._atomic import atomic_writer
from langchain_niche._cli_args import (
    _UNSET,
    _check_stopwords,
    _keys,
    _selection_settings,
    build_parser,
)
from langchain_niche._cli_input import (
    MAX_NESTING,
    DataError,
    UsageError,
    _at_line,
    _Input,
    _read,
    _require_examples,
    json_object,
    read_jsonl,
)
from langchain_niche._cli_output import _print_fields, _print_hits
from langchain_niche._progress import progress as _progress
from langchain_niche.dedupe import dedupe_examples
from langchain_niche.errors import InvalidParameterError, NicheError
from langchain_niche.minhash.redis.url import check_index_name
from langchain_niche.selectors.minhash import MinHashExampleSelector

__all__ = ["MAX_NESTING", "main", "read_jsonl"]

_EXIT_DATA = 1
_EXIT_USAGE = 2
_EXIT_INTERRUPTED = 130


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
        "filter_keys": _keys(args.filter_keys),
        "num_perm": args.num_perm,
        "lsh_threshold": args.lsh_threshold,
        "seed": args.seed,
        "ngram_range": args.ngram_range,
        **_selection_settings(args),
        **_store_settings(args),
    }
    if args.stopwords is not _UNSET:
        settings["stopwords"] = args.stopwords
    for option in ("redis_shards", "redis_bucket_bits"):  # creation settings of a Redis index
        if getattr(args, option) is not None:
            if not args.redis_url:
                msg = f"--{option.replace('_', '-')} needs --redis-url"
                raise UsageError(msg)
            settings[option] = getattr(args, option)
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
        return json_object(args.text, "--json: TEXT", UsageError)
    keys = selector.input_keys or []
    if len(keys) != 1:
        msg = f"the index compares the fields {keys}; pass the input as --json '{{...}}'"
        raise UsageError(msg)
    return {keys[0]: args.text}


def _cmd_query(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {"k": args.k, **_selection_settings(args)}
    if args.filter_keys:
        overrides["filter_keys"] = _keys(args.filter_keys)
    selector = _open(args, **overrides)
    _check_stopwords(args, selector)
    query = _query_input(args, selector)
    filter_ = _filter_of(args.filter)
    for key in selector.filter_keys or ():
        given = filter_.get(key)
        if key not in query and isinstance(given, str):
            query[key] = given  # --filter tenant=acme supplies the input's filter field
    hits = selector.search(query, filter=filter_ or None)
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


def _filter_of(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``--filter`` pairs as a per-call filter: one value is equality, several membership."""
    values: dict[str, list[str]] = {}
    for field, value in pairs:
        values.setdefault(field, []).append(value)
    return {field: vs[0] if len(vs) == 1 else vs for field, vs in values.items()}


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
                filter_keys=_keys(args.filter_keys),
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


_COMMANDS = {
    "build": _cmd_build,
    "inspect": _cmd_inspect,
    "query": _cmd_query,
    "dedupe": _cmd_dedupe,
}


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
        args = build_parser(_COMMANDS).parse_args(argv)
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
