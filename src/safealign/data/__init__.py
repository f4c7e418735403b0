"""The data layer: one sample schema, loaders for public safety datasets, validation, summaries.

Typical use:

result = load_samples("PKU-Alignment/PKU-SafeRLHF")        # or a local jsonl/csv/parquet
require_labels(result, needs=("pair", "safety", "better"))
render_summary(inspect_samples(result))
save_samples(result, "pairs.jsonl")                        # unified JSONL, format "safealign"
"""

# Importing the package registers the built-in formats; the registry never imports its plugins.
import safealign.data.formats  # noqa: F401
from safealign.data.columns import ColumnError, parse_column_map
from safealign.data.inspect import DataSummary, inspect_samples, pair_key_text, render_summary
from safealign.data.labels import require_labels
from safealign.data.loaders import (
    LoadOptions,
    LoadResult,
    SkippedRow,
    convert_samples,
    load_samples,
    save_samples,
)
from safealign.data.registry import (
    RowOrigin,
    SourceFormat,
    detect_format,
    formats,
    get_format,
    register_format,
)
from safealign.data.schema import Message, Response, Sample
from safealign.data.validation import RowError

__all__ = [
    "ColumnError",
    "DataSummary",
    "LoadOptions",
    "LoadResult",
    "Message",
    "Response",
    "RowError",
    "RowOrigin",
    "Sample",
    "SkippedRow",
    "SourceFormat",
    "convert_samples",
    "detect_format",
    "formats",
    "get_format",
    "inspect_samples",
    "load_samples",
    "pair_key_text",
    "parse_column_map",
    "register_format",
    "render_summary",
    "require_labels",
    "save_samples",
]
