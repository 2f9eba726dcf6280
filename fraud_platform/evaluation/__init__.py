"""Evaluation: how well the risk score finds laundering on worlds and days it never learned from."""
