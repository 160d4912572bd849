"""mixup-lab: A/B experiments and tuning of mixers on your data (``mixup compare``, ``mixup tune``).

The command line is the main entry; the same steps are available from Python:

Examples:
    >>> from mixup_lab import load_study_config, run_compare   # doctest: +SKIP
    >>> cfg = load_study_config("examples/configs/digits.yaml")  # doctest: +SKIP
    >>> folder = run_compare(cfg)                                # doctest: +SKIP
    >>> print((folder / "report.md").read_text())                # doctest: +SKIP

The package is imported when ``mixup`` loads its plugins, so its heavy modules (torch training,
scipy, matplotlib, Optuna) are imported on first use of the names below, not here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mixup_core.lazy import lazy_exports

__version__ = "0.1.0"

_LAZY = {
    "ArmConfig": "._config",
    "ComponentConfig": "._config",
    "CriticalConfig": "._config",
    "StudyConfig": "._config",
    "TrainConfig": "._config",
    "TuneConfig": "._config",
    "load_study_config": "._config",
    "RunResult": "._train",
    "StudyData": "._train",
    "load_study_data": "._train",
    "run_compare": "._runner",
    "split_validation": "._train",
    "train_and_evaluate": "._train",
    "run_tune": "._tune",
    "FailedRunsError": "._runner",
    "RunState": "._store",
    "study_status": "._store",
    "SlurmLauncher": "._workers",
    "LabelNoise": "._noise",
    "NoisyLabels": "._noise",
    "add_label_noise": "._noise",
    "compute_metrics": "._metrics",
    "reliability_bins": "._metrics",
    "Study": "._store",
    "load_study": "._store",
    "summarise": "._stats",
    "write_report": "._report",
}

__all__ = [
    "ArmConfig",
    "ComponentConfig",
    "CriticalConfig",
    "FailedRunsError",
    "LabelNoise",
    "NoisyLabels",
    "RunResult",
    "RunState",
    "SlurmLauncher",
    "Study",
    "StudyConfig",
    "StudyData",
    "TrainConfig",
    "TuneConfig",
    "__version__",
    "add_label_noise",
    "compute_metrics",
    "load_study",
    "load_study_config",
    "load_study_data",
    "reliability_bins",
    "run_compare",
    "run_tune",
    "split_validation",
    "study_status",
    "summarise",
    "train_and_evaluate",
    "write_report",
]

if TYPE_CHECKING:
    from ._config import (
        ArmConfig,
        ComponentConfig,
        CriticalConfig,
        StudyConfig,
        TrainConfig,
        TuneConfig,
        load_study_config,
    )
    from ._metrics import compute_metrics, reliability_bins
    from ._noise import LabelNoise, NoisyLabels, add_label_noise
    from ._report import write_report
    from ._runner import FailedRunsError, run_compare
    from ._stats import summarise
    from ._store import RunState, Study, load_study, study_status
    from ._train import RunResult, StudyData, load_study_data, split_validation, train_and_evaluate
    from ._tune import run_tune
    from ._workers import SlurmLauncher


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
