"""The graph area: see logic.py for the rules, assets.py for the Dagster wiring."""
