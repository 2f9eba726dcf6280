"""The dataset viewer: every dataset's URL opens an interactive WebGL view of that day's network.

``fraud-platform serve`` runs the server (`fraud_platform.viewer.server`). The viewer reads what
the Dagster assets wrote; the assets never import it (their Markdown summary of a day,
`top_accounts_markdown`, lives in `fraud_platform.reporting` and is re-exported here).
"""

from fraud_platform.reporting import top_accounts_markdown
from fraud_platform.viewer.preview import preview_png

__all__ = ["preview_png", "top_accounts_markdown"]
