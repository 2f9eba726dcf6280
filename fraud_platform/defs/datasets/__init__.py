"""The datasets area: see logic.py for the rules, assets.py for the Dagster wiring."""
