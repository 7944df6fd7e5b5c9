"""Reports on tuning jobs: the DataFrame, the statistics, the terminal and HTML reports.

::

    analytics.py         TuningJobAnalytics / AnalyticsSnapshot: trials as a DataFrame, curves
    tuned_parameters.py  the tuned hyperparameters and their scales, from stored requests
    effects.py           correlations, effect sizes and importance
    report.py            build_report: the report's data and its one-line readings
    terminal.py          rich tables, and ``tuner report``
    html.py              the self-contained HTML page of plotly charts

Everything here reads storage; nothing writes. Importing this package loads nothing heavy:
import the module you need.
"""
