"""Where risk models live: versioned folders in the object store, and the packaged first model.

Layout under ``{FRAUD_STORAGE_URL}/models/risk_model/``: ``{version}/model.txt`` (LightGBM's text
format) and ``{version}/model.json`` (features, training figures), then ``latest.json`` naming the
newest version, written last, so a reader never sees a version whose files are incomplete.

``account_scores`` reads the newest version through this resource rather than as a Dagster input:
an input would put ``risk_model`` upstream of every day, so selecting a day's assets (``dagster
asset materialize --select '*fraud_dataset'``) would train a model on every run. Each day records
the version it used in its metadata.

Before any model was trained in a deployment, the model that ships with the package is used: it
is what ``risk_model`` trains from the default recipe (generated worlds), committed so a fresh
install scores with a model from its first day; ``fraud-platform train`` rebuilds it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import resources

from dagster import ConfigurableResource
from pydantic import Field

from fraud_platform.defs.model.logic import RiskModel
from fraud_platform.settings import RISK_SCORES
from fraud_platform.storage.access import read_bytes, store_path, write_bytes

MODELS_PATH = "models/risk_model"
PACKAGED = "packaged"


def models_url(storage_url: str) -> str:
    return f"{storage_url.rstrip('/')}/{MODELS_PATH}"


def packaged_model() -> RiskModel | None:
    """The model shipped with the package, or None if this build has none."""
    folder = resources.files("fraud_platform.defs.model") / PACKAGED
    text, meta = folder / "model.txt", folder / "model.json"
    if not (text.is_file() and meta.is_file()):
        return None
    return RiskModel.from_text(text.read_text(), meta.read_text())


class RiskModelStore(ConfigurableResource):
    """Saves trained risk models as versions and hands out the newest one."""

    url: str = Field(description="Folder of model versions: {FRAUD_STORAGE_URL}/models/risk_model.")
    score: str = Field(
        default="model",
        description="model: the newest trained model, else the packaged one; rules: the "
        "documented rules score (FRAUD_RISK_SCORE).",
    )

    def save(self, model: RiskModel) -> str:
        """Store ``model`` as its version and make it the newest; returns the version's URL."""
        folder = store_path(self.url) / model.version
        write_bytes(folder / "model.txt", model.to_text().encode())
        write_bytes(folder / "model.json", model.to_json().encode())
        pointer = {"version": model.version, "saved_at": datetime.now(UTC).isoformat()}
        write_bytes(store_path(self.url) / "latest.json", json.dumps(pointer).encode())
        return str(folder)

    def latest_version(self) -> str | None:
        data = read_bytes(store_path(self.url) / "latest.json")
        return None if data is None else str(json.loads(data)["version"])

    def load(self, version: str) -> RiskModel:
        folder = store_path(self.url) / version
        text, meta = read_bytes(folder / "model.txt"), read_bytes(folder / "model.json")
        if text is None or meta is None:
            raise FileNotFoundError(f"risk model version {version} is incomplete under {folder}")
        return RiskModel.from_text(text.decode(), meta.decode())

    def latest(self) -> tuple[RiskModel | None, str]:
        """The newest trained model, else the packaged one, else None; and where it came from."""
        if self.score not in RISK_SCORES:
            raise ValueError(
                f"FRAUD_RISK_SCORE must be one of {', '.join(RISK_SCORES)}, not {self.score!r}"
            )
        if self.score == "rules":
            return None, "none: rules score (FRAUD_RISK_SCORE=rules)"
        version = self.latest_version()
        if version is not None:
            return self.load(version), f"trained version {version}"
        model = packaged_model()
        if model is not None:
            return model, f"packaged version {model.version}"
        return None, "none: rules score (no model trained or packaged)"
