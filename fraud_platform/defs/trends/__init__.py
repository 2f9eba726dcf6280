"""The trends area: weekly views over the daily datasets. See logic.py and assets.py."""
