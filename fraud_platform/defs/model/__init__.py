"""Model: the learned risk score, trained on labelled days, and the documented rules beside it."""
