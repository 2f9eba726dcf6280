"""Analysts' decisions on alerts, as rules: what a decision may say, who may make it, which holds.

A decision is one of `DECISIONS`; a dismissal names what the account legitimately is (a
`category`, e.g. "payment processor"), so that it can silence that account's repeat alerts and
become a label the next model learns from. Decisions are never edited: a new one supersedes the
one before (the newest is current), and the history stays.

Analysts prove who they are with a token made by ``fraud-platform analysts add``: 32 random
bytes, shown once and stored only as its SHA-256. A slow password hash is not needed for a
token with 256 bits of entropy, and a plain digest lets the lookup be an index probe.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fraud_platform.tables import PARTITION_COLUMN as PARTITION_DAY

DECISIONS = ("confirmed", "dismissed", "escalated")
#: Offered in the case page's form; any other short text is accepted too.
DISMISS_CATEGORIES = (
    "payment processor",
    "marketplace",
    "payroll",
    "wholesale",
    "landlord",
    "exchange",
    "bill split",
    "one-off payment",
    "other",
)
MAX_NOTE_CHARS = 10_000
#: A dismissed account alerts again only once its score rises this much over the dismissed one
#: (FRAUD_DISMISS_MARGIN): its behaviour has changed.
DEFAULT_DISMISS_MARGIN = 0.1
MAX_CATEGORY_CHARS = 80
_ANALYST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_TOKEN_PREFIX = "fpa_"


class DecisionError(ValueError):
    """A decision that cannot be stored; ``field`` names the part of the request at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Decision:
    """A validated decision, before it is stored against an alert."""

    decision: str
    category: str | None
    note: str


def alert_uuid(alert_id: str) -> uuid.UUID | None:
    """An alert id from a URL or a form as a UUID; None when it is not one (no alert has it)."""
    try:
        return uuid.UUID(str(alert_id))
    except ValueError:
        return None


def parse_decision(body: Any) -> Decision:
    """A `Decision` from a request body (JSON object or form fields), or `DecisionError`."""
    if not isinstance(body, Mapping):
        raise DecisionError("body", "must be a JSON object")
    decision = body.get("decision")
    if decision not in DECISIONS:
        raise DecisionError("decision", f"must be one of {', '.join(DECISIONS)}")
    category = body.get("category")
    if category is not None and not isinstance(category, str):
        raise DecisionError("category", "must be text")
    category = (category or "").strip() or None
    if category is not None and len(category) > MAX_CATEGORY_CHARS:
        raise DecisionError("category", f"must be at most {MAX_CATEGORY_CHARS} characters")
    if decision == "dismissed" and category is None:
        raise DecisionError("category", "a dismissal needs a category (what the account is)")
    note = body.get("note", "")
    if note is None:
        note = ""
    if not isinstance(note, str):
        raise DecisionError("note", "must be text")
    if len(note) > MAX_NOTE_CHARS:
        raise DecisionError("note", f"must be at most {MAX_NOTE_CHARS:,} characters")
    return Decision(decision=decision, category=category, note=note)


def check_analyst_name(name: str) -> str:
    """``name`` if it is a valid analyst name (letters, digits, ``._@-``; 64 at most)."""
    if not _ANALYST_NAME.match(name or ""):
        raise ValueError(
            f"invalid analyst name {name!r}: use letters, digits and . _ @ - (at most 64)"
        )
    return name


def new_token() -> str:
    """A fresh analyst token (shown once; only `token_digest` of it is stored)."""
    return _TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def suppressing_dismissals(
    high_risk: pd.DataFrame, standing: pd.DataFrame, margin: float = DEFAULT_DISMISS_MARGIN
) -> pd.Series:
    """For each row of ``high_risk`` (``partition_date, account, risk_score``), the id of the
    dismissal that silences it, else None.

    ``standing`` holds each account's newest decision when it is a dismissal (``account,
    partition_date, risk_score, decision_id``). It silences the account's alerts of later days
    whose score is below the dismissed score plus ``margin``: an analyst who said "payroll
    bureau" should not see the bureau every payday, but should if it starts to behave otherwise.
    """
    silenced = pd.Series(None, index=high_risk.index, dtype="object")
    if high_risk.empty or standing.empty:
        return silenced
    held = standing.set_index("account")
    found = held.reindex(high_risk["account"].astype("str").to_numpy())
    alert_day = high_risk[PARTITION_DAY].astype("str").to_numpy(dtype=object)
    dismissed_day = found[PARTITION_DAY].fillna("").astype("str").to_numpy(dtype=object)
    later = alert_day > dismissed_day  # ISO dates compare as text; "" for no dismissal
    close = high_risk["risk_score"].to_numpy(dtype=float) < (
        found["risk_score"].to_numpy(dtype=float) + margin
    )
    hit = found["decision_id"].notna().to_numpy() & later & close
    ids = np.full(len(high_risk), None, dtype=object)
    ids[hit] = found["decision_id"].to_numpy(dtype=object)[hit]
    return pd.Series(ids, index=high_risk.index, dtype="object")


#: Decisions that are labels: confirmed fraud (1) and dismissed as legitimate (0). An escalation
#: says "not sure yet" and teaches nothing.
LABEL_OF_DECISION = {"confirmed": 1, "dismissed": 0}
LABEL_COLUMNS = (
    PARTITION_DAY,
    "account",
    "alert_id",
    "decision",
    "category",
    "label",
    "analyst",
    "decided_at",
    "features",
)


def feature_json(row: Mapping[str, float]) -> str:
    """One account's model input as a JSON object (unknown values as null)."""
    return json.dumps(
        {k: (None if v is None or math.isnan(v) else float(v)) for k, v in row.items()},
        separators=(",", ":"),
        allow_nan=False,
    )


def day_labels(
    day: str, decisions: pd.DataFrame, accounts: np.ndarray, inputs: pd.DataFrame
) -> pd.DataFrame:
    """`LABEL_COLUMNS` rows for the day's current decisions that are labels.

    ``decisions``: the day's current decision per alert (``alert_id, account, decision,
    category, analyst, decided_at``); ``accounts`` and ``inputs``: the day's node-table accounts
    and their model input (same order). An account decided but absent from the day's graph
    (e.g. a re-run day without it) has no input and gives no label.
    """
    kept = decisions[decisions["decision"].isin(list(LABEL_OF_DECISION))]
    position = pd.Index(pd.Series(accounts, dtype="str")).get_indexer(kept["account"].astype("str"))
    kept, position = kept[position >= 0], position[position >= 0]
    rows = inputs.iloc[position].to_dict("records")
    return pd.DataFrame(
        {
            PARTITION_DAY: pd.Series([day] * len(kept), dtype="str"),
            "account": kept["account"].astype("str").to_numpy(),
            "alert_id": kept["alert_id"].astype("str").to_numpy(),
            "decision": kept["decision"].astype("str").to_numpy(),
            "category": kept["category"].to_numpy(dtype=object),
            "label": kept["decision"].map(LABEL_OF_DECISION).to_numpy(dtype=np.int64),
            "analyst": kept["analyst"].to_numpy(dtype=object),
            "decided_at": pd.to_datetime(kept["decided_at"], utc=True).to_numpy(),
            "features": [feature_json(r) for r in rows],
        },
        columns=list(LABEL_COLUMNS),
    )


def label_inputs(labels: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """The stored labels' model inputs as a frame with columns ``features`` (NaN where a label
    was stored without that feature)."""
    parsed = [json.loads(text) for text in labels["features"]]
    return pd.DataFrame.from_records(parsed, columns=list(features)).astype("float64")
