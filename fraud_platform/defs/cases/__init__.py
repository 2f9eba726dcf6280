"""The cases area: analysts, their decisions on alerts, and what the platform learns from them."""
