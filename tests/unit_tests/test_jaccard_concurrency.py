"""Concurrent adds, removals and selections never crash or expose half-added examples."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

from langchain_niche import JaccardExampleSelector

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
]


def make_example(rng: random.Random, n: int) -> dict[str, str]:
    text = " ".join(rng.choices(WORDS, k=rng.randint(2, 6)))
    # "check" repeats the text so a reader can tell a complete example from a torn one.
    return {"q": text, "check": f"{n}:{text}"}


def test_concurrent_writers_and_readers() -> None:
    base_rng = random.Random(0)
    selector = JaccardExampleSelector(
        examples=[make_example(base_rng, i) for i in range(2000)], k=5, input_keys=["q"]
    )
    errors: list[BaseException] = []
    added: list[str] = []
    stop = threading.Event()

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for i in range(300):
                example = make_example(rng, 10_000 * seed + i)
                if i % 3 == 0:
                    added.extend(selector.add_examples([example, make_example(rng, -i)]))
                else:
                    added.append(selector.add_example(example))
                if i % 10 == 0:
                    selector.remove_example(rng.choice(added[-20:]) if added else "0")
        except BaseException as exc:
            errors.append(exc)

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        try:
            while not stop.is_set():
                query = {"q": " ".join(rng.choices(WORDS, k=3))}
                for scored in selector.search(query):
                    example = scored.example
                    assert set(example) == {"q", "check"}
                    assert example["check"].split(":", 1)[1] == example["q"]
                    assert 0 < scored.score <= 1
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=reader, args=(100 + i,)) for i in range(3)]
    for thread in readers:
        thread.start()
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(writer, [1, 2, 3]))
    stop.set()
    for thread in readers:
        thread.join()
    # ExampleNotFoundError is possible when two writers remove the same id; nothing else.
    unexpected = [e for e in errors if type(e).__name__ != "ExampleNotFoundError"]
    assert not unexpected, unexpected
    assert len(selector) == len(selector.ids) == len(selector.examples)
    # The final state is exactly what a fresh selector over the same examples computes.
    fresh = JaccardExampleSelector(examples=selector.examples, k=5, input_keys=["q"])
    query = {"q": "alpha beta gamma"}
    assert [(s.example, s.score) for s in selector.search(query)] == [
        (s.example, s.score) for s in fresh.search(query)
    ]
