"""The dataset viewer: every dataset's URL opens an interactive WebGL view of that day's network.

``fraud-platform serve`` runs the server (`fraud_platform.viewer.server`); the Dagster assets use
`top_accounts_markdown` and `preview_png` for their metadata.
"""

from fraud_platform.viewer.preview import preview_png, top_accounts_markdown

__all__ = ["preview_png", "top_accounts_markdown"]
