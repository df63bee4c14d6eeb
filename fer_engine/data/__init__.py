"""Dataset readers, validation and the synthetic demo dataset."""

from fer_engine.data.dataset import (  # noqa: F401
    AGE_CUT,
    BASE_COLUMNS,
    GROUP_COLUMNS,
    Dataset,
    ValidationIssue,
)
