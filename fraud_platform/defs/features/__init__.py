"""Features: the evidence per account that the risk model learns from (time, history, shape)."""
