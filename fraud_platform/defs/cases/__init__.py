"""The cases area: analysts, their decisions on alerts, and what the platform learns from them.

logic.py holds the rules (what a decision may say, tokens, which dismissal silences an alert,
decisions as labels), resources.py the warehouse tables (``analysts``, ``alert_decisions``),
assets.py ``analyst_labels`` (decisions as labels for the risk model) and sensors.py the sensor
that materializes it for the days analysts decided on.
"""
