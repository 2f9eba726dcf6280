"""The dataset viewer: every dataset's URL opens an interactive WebGL view of that day's network.

``fraud-platform serve`` runs the server (`fraud_platform.viewer.server`). The viewer reads what
the Dagster assets wrote; the assets never import it (their Markdown summary of a day,
`top_accounts_markdown`, lives in `fraud_platform.reporting` and the picture of a day,
`preview_png`, in `fraud_platform.presentation`; both are re-exported here).
"""

from fraud_platform.presentation.preview import preview_png
from fraud_platform.reporting import top_accounts_markdown

__all__ = ["preview_png", "top_accounts_markdown"]
