"""``duragent report``: latency, cost, errors and approvals of recent runs, with alert rules.

The figures come from the runs' own ``RunResult``s, read back through Temporal, so no metrics
backend is needed. ``build_report`` and ``evaluate_alerts`` are pure; listing the runs is the
CLI's job (``duragent.cli``), and ``write_plot`` needs the ``plot`` extra (matplotlib).
"""

from duragent.report._alerts import (
    DEFAULT_RULES,
    AlertResult,
    AlertRule,
    AlertRules,
    evaluate_alerts,
    load_alert_rules,
)
from duragent.report._model import (
    LAYERS,
    METRICS,
    Distribution,
    Report,
    RunSample,
    Tokens,
    build_report,
    percentile,
)
from duragent.report._plot import PLOT_EXTRA, PlotUnavailableError, write_plot

__all__ = [
    "DEFAULT_RULES",
    "LAYERS",
    "METRICS",
    "PLOT_EXTRA",
    "AlertResult",
    "AlertRule",
    "AlertRules",
    "Distribution",
    "PlotUnavailableError",
    "Report",
    "RunSample",
    "Tokens",
    "build_report",
    "evaluate_alerts",
    "load_alert_rules",
    "percentile",
    "write_plot",
]
