"""Turning library errors into one-line CLI errors."""

from __future__ import annotations

import functools

import click

from lfe.errors import LfeError


def friendly_errors(command):
    """Report ``LfeError`` as ``Error: ...`` with exit code 1, without a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except LfeError as error:
            raise click.ClickException(str(error)) from None

    return wrapper
