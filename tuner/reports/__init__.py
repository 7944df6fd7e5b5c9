"""Reports on tuning jobs: the DataFrame, the statistics, the terminal and HTML reports.

::

    analytics.py         TuningJobAnalytics / AnalyticsSnapshot: trials as a DataFrame, curves
    tuned_parameters.py  the tuned hyperparameters and their scales, from stored requests
    comparable.py        which training jobs the statistics compare, on which value
    effects.py           correlations, effect sizes and importance
    sample.py            the training jobs the importance is fitted on when there are many
    report.py            build_report: the report's data and its one-line readings
    terminal.py          rich tables, and ``tuner report``
    html.py              the self-contained HTML page of plotly charts (a big job's sampled)

Everything here reads storage; nothing writes. Importing this package loads nothing heavy:
import the module you need.
"""
