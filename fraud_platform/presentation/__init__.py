"""Pictures of a day's dataset, shared by the Dagster definitions and the viewer.

`selection` picks the accounts a picture shows (the viewer's page and both previews), `preview`
draws the PNG (the viewer's ``preview.png`` and the thumbnail in ``fraud_dataset``'s metadata).
Outside ``defs/`` and ``viewer/`` because data walks one way: the definitions never import the
viewer (``fraud_platform_tests/test_layering.py``).
"""
