"""mixup-tabular: mixup for tables of numeric and categorical columns, registered under the prefix ``tabular:``.

``tabular:row-mixup`` (`RowMixup`) interpolates numeric features and draws each categorical value
from one of the two rows; ``tabular:table`` (`load_table_task`) reads your own table;
``tabular:mlp`` (`mlp`) is a model for its rows. Importing the package is cheap: names are
imported on first use.

Example:
    >>> from mixup_core import create_mixer
    >>> mixer = create_mixer({"name": "tabular:row-mixup", "categorical_slices": [[3, 6]], "num_classes": 2})
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mixup_core.lazy import lazy_exports

__version__ = "0.1.0"

_LAZY = {
    "CategoricalFeature": ".datasets",
    "NumericFeature": ".datasets",
    "RowMixup": ".rowmixup",
    "RowPlan": ".rowmixup",
    "TableEncoder": ".datasets",
    "TabularMLP": ".lab",
    "load_table_task": ".lab",
    "mlp": ".lab",
    "typed_columns": ".datasets",
}

__all__ = [
    "CategoricalFeature",
    "NumericFeature",
    "RowMixup",
    "RowPlan",
    "TableEncoder",
    "TabularMLP",
    "__version__",
    "load_table_task",
    "mlp",
    "typed_columns",
]

if TYPE_CHECKING:
    from .datasets import CategoricalFeature, NumericFeature, TableEncoder, typed_columns
    from .lab import TabularMLP, load_table_task, mlp
    from .rowmixup import RowMixup, RowPlan


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
