"""Fixtures of the PEARL tests."""

from tests.support.faulty_models import faulty

__all__ = ["faulty"]
