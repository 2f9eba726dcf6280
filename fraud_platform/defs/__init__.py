"""Dagster definitions, one folder per area: ingest, graph, analytics, datasets.

Every area has the same shape: ``logic.py`` holds pure functions (DataFrames in, DataFrames out),
``assets.py`` wraps them as thin Dagster assets, ``resources.py`` holds the area's resources.
"""
