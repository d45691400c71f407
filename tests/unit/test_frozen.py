"""Values passed between workflows and activities cannot change once made, whatever else their models configure."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from pydantic import ValidationError

import domain
import workflows
from domain.base import Frozen
from domain.order import Address


def frozen_models() -> list[type[Frozen]]:
    """Every model built on `Frozen` in the domain, the activity contract and the workflows' inputs."""
    for package in (domain, workflows):
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")
    importlib.import_module("activities.api")
    found: list[type[Frozen]] = []
    waiting = Frozen.__subclasses__()
    while waiting:
        model = waiting.pop()
        found.append(model)
        waiting.extend(model.__subclasses__())
    return sorted(found, key=lambda model: f"{model.__module__}.{model.__qualname__}")


def test_a_model_with_its_own_config_keeps_it_and_stays_frozen() -> None:
    address = Address(
        name="Ada Lovelace", line1="Unter den Linden 1", postal_code="10117", city="  Berlin ", country="DE"
    )

    assert address.city == "Berlin"
    with pytest.raises(ValidationError, match="frozen"):
        address.city = "Potsdam"  # type: ignore[misc]  # mypy refuses it too; this is the run-time refusal


@pytest.mark.parametrize("model", frozen_models(), ids=lambda model: f"{model.__module__}.{model.__qualname__}")
def test_every_model_built_on_frozen_is_frozen(model: type[Frozen]) -> None:
    assert model.model_config.get("frozen") is True
