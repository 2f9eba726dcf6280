"""Model checks: a new model must rank its own training days sensibly before it is used.

A model whose average precision on the days it learned from is below `MIN_TRAINING_AP` learned
nothing usable (broken labels, a feature gone constant): the check fails at ERROR and the model
is not made the newest version, so days keep being scored by the previous one.
"""

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey

from fraud_platform.defs.check_results import failure_line, rerun_command

MODEL_CHECK = "risk_model_learned"
MIN_TRAINING_AP = 0.3

risk_model_check_spec = AssetCheckSpec(
    name=MODEL_CHECK,
    asset=AssetKey("risk_model"),
    description=f"Average precision on its training days at least {MIN_TRAINING_AP}.",
)


def risk_model_check(training_ap: float) -> AssetCheckResult:
    passed = training_ap >= MIN_TRAINING_AP
    return AssetCheckResult(
        check_name=MODEL_CHECK,
        asset_key=AssetKey("risk_model"),
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        metadata={"training_average_precision": round(training_ap, 4)},
        description=None
        if passed
        else failure_line(
            f"average precision {training_ap:.3f} on its own training days",
            days=None,
            limit=f"minimum {MIN_TRAINING_AP}",
            next_step=(
                "Not saved: days keep being scored by the newest saved model. Check the "
                "training days' labels and features, then re-run it"
                f": {rerun_command([], 'risk_model')}"
            ),
        ),
    )
