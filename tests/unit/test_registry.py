"""The registry's entry-point factories: they answer as the classes do, import their class only
when used, and fingerprint as the classes do (so a checkpoint made with either fits the other)."""

from __future__ import annotations

import pickle

import pytest

from ssp_ledger.projection import (
    EntryPointFactory,
    load_projections,
    projection_fingerprint,
    registered_projections,
)


def test_every_standard_entry_point_names_the_module_that_defines_its_class() -> None:
    factories = registered_projections()
    classes = load_projections()
    assert set(factories) == set(classes)
    for name, factory in factories.items():
        assert isinstance(factory, EntryPointFactory)
        cls = classes[name]
        assert (factory.module, factory.qualname) == (cls.__module__, cls.__qualname__), name
    assert projection_fingerprint(factories) == projection_fingerprint(classes)


def test_a_factory_makes_the_projection_and_answers_for_its_class() -> None:
    factory = registered_projections()["participation"]
    assert isinstance(factory, EntryPointFactory)
    cls = load_projections()["participation"]
    assert factory.load() is cls
    assert isinstance(factory(), cls)
    assert factory.name == "participation"  # the entry point's name: the projection's name
    survey = registered_projections()["survey"]
    assert survey.parameters == load_projections()["survey"].parameters  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        survey.no_such_attribute  # type: ignore[attr-defined]  # noqa: B018


def test_a_factory_pickles_as_its_entry_point() -> None:
    factory = registered_projections()["leaders"]
    again = pickle.loads(pickle.dumps(factory))
    assert isinstance(again, EntryPointFactory)
    assert (again.name, again.value, again.group) == (factory.name, factory.value, factory.group)
    assert type(again()) is type(factory())


def test_an_entry_point_that_is_not_a_projection_class_is_refused_by_name() -> None:
    factory = EntryPointFactory("broken", "ssp_ledger.errors:LedgerError")
    assert projection_fingerprint({"broken": factory})  # named without importing anything
    with pytest.raises(TypeError, match=r"entry point 'broken' .* is not a projection class"):
        factory()
    missing = EntryPointFactory("gone", "ssp_ledger_no_such_package.module:Thing")
    with pytest.raises(ImportError):
        missing()


def test_the_fingerprint_names_a_factory_by_its_entry_point() -> None:
    """Another class behind the same name changes the fingerprint (the code it binds)."""
    base = {"participation": EntryPointFactory(
        "participation", "ssp_ledger_projections.participation:Participation")}
    other = {"participation": EntryPointFactory(
        "participation", "ssp_ledger_projections.leaders:Leaders")}
    assert projection_fingerprint(base) != projection_fingerprint(other)
    assert projection_fingerprint(base) == projection_fingerprint(
        {"participation": load_projections()["participation"]})
