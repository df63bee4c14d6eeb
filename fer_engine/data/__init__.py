"""Dataset readers, validation and the synthetic demo dataset.

``load_dataset(path)`` turns a folder (Kaggle tapakah68 or class-folder layout) into a
validated :class:`Dataset`; ``synthetic.default_dataset_path()`` gives the embedded demo
data (generated on first use). ``summary`` counts what a dataset holds per emotion and
per subgroup for the CLI and the pages.
"""

from fer_engine.data.dataset import (  # noqa: F401
    AGE_CUT,
    BASE_COLUMNS,
    GROUP_COLUMNS,
    PER_IMAGE_COLUMNS,
    Dataset,
    ValidationIssue,
)
from fer_engine.data.readers import LAYOUTS, detect_layout, load_dataset  # noqa: F401
