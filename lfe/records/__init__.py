"""Typed records: what one workflow writes and another reads, each a frozen dataclass.

Every record has ``to_dict`` (JSON-ready, the key names are its field names, defined once here) and
``from_dict`` (tolerant of keys an older lfe did not write, so old stores still open). The store
returns these records, never raw Zarr groups or attribute dicts. Plain Python: no torch, no zarr.
"""

from lfe.records.ablation import FULL_MODEL, AblationSettings, AblationTable, Generation
from lfe.records.analysis import (
    Agreement,
    Alignment,
    AnalysisArrays,
    AnalysisRecord,
    AnalysisSettings,
    MethodRegions,
    NullSummary,
    RandomWeights,
    RegionNull,
)
from lfe.records.base import Record
from lfe.records.corpus import ChoiceItem, CorpusDescription, CorpusSelection
from lfe.records.evolution import AXES, EvolutionRow, EvolutionSettings, SeriesTrend
from lfe.records.extraction import (
    BACKENDS,
    COMPRESSIONS,
    MODEL_DTYPES,
    PADDING_SIDES,
    SPECIAL_TOKENS,
    STATS,
    STORE_DTYPES,
    CheckpointMeta,
    ExtractSettings,
    ModelSource,
    SourceKind,
    parse_device,
)
from lfe.records.methods import AP, LAPE, METHODS, PEER_METHODS, ZSCORE, PeerSettings
from lfe.records.steering import (
    CONDITIONS,
    FULL,
    OTHER,
    RANDOM,
    SHARES,
    SOURCE,
    STEER_RANDOM,
    STEERED,
    TARGET,
    LanguageShares,
    SteerCell,
    SteeredText,
    SteerSettings,
    SteerTable,
)
from lfe.records.summary import CheckpointSummary, StoreSummary

__all__ = [
    "SeriesTrend",
    "ChoiceItem",
    "CheckpointSummary",
    "StoreSummary",
    "CorpusDescription",
    "CorpusSelection",
    "AP",
    "LAPE",
    "METHODS",
    "PEER_METHODS",
    "ZSCORE",
    "Agreement",
    "MethodRegions",
    "PeerSettings",
    "CONDITIONS",
    "FULL",
    "OTHER",
    "RANDOM",
    "SHARES",
    "LanguageShares",
    "SOURCE",
    "STEER_RANDOM",
    "STEERED",
    "TARGET",
    "SteerCell",
    "SteeredText",
    "SteerSettings",
    "SteerTable",
    "AXES",
    "BACKENDS",
    "COMPRESSIONS",
    "FULL_MODEL",
    "MODEL_DTYPES",
    "PADDING_SIDES",
    "SPECIAL_TOKENS",
    "STATS",
    "STORE_DTYPES",
    "AblationSettings",
    "AblationTable",
    "Alignment",
    "AnalysisArrays",
    "AnalysisRecord",
    "AnalysisSettings",
    "CheckpointMeta",
    "EvolutionRow",
    "EvolutionSettings",
    "ExtractSettings",
    "Generation",
    "ModelSource",
    "SourceKind",
    "NullSummary",
    "RandomWeights",
    "Record",
    "RegionNull",
    "parse_device",
]
