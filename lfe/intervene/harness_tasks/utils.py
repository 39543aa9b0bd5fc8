"""The dataset of lfe's cross-lingual XStoryCloze tasks: each language's stories with the English
endings of the same story (XStoryCloze's splits joined by ``story_id``)."""

from __future__ import annotations

from typing import Any

# XStoryCloze on the Hugging Face hub: one config per language, splits "train" and "eval"
HUB_DATASET = "juletxara/xstory_cloze"
ENDINGS = ("sentence_quiz1", "sentence_quiz2")


def english_endings(language: str, dataset_path: str = HUB_DATASET, **_: Any) -> Any:
    """A DatasetDict of ``language``'s stories, each with ``english_quiz1``/``english_quiz2``: the
    English endings of the story with the same ``story_id`` (stories without one are dropped).

    ``dataset_path`` (from the harness's metadata) is the hub's id or a local folder in its
    layout; the other metadata is the harness's own."""
    import datasets

    stories = datasets.load_dataset(dataset_path, language)
    english = datasets.load_dataset(dataset_path, "en")
    return datasets.DatasetDict(
        {split: _with_english(rows, english[split]) for split, rows in stories.items()}
    )


def _with_english(stories: Any, english: Any) -> Any:
    """``stories`` that have an English story of the same id, each with its English endings."""
    endings = {row["story_id"]: [row[ending] for ending in ENDINGS] for row in english}
    return stories.filter(lambda row: row["story_id"] in endings).map(
        lambda row: {
            "english_quiz1": endings[row["story_id"]][0],
            "english_quiz2": endings[row["story_id"]][1],
        }
    )
