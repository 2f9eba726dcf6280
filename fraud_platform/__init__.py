"""fraud_platform: daily fraud analytics on money-transfer networks, as Dagster assets."""
