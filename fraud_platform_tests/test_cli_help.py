"""`fraud-platform --help` and each subcommand's help, as a terminal shows them: plain text (no
reStructuredText backticks or roles), every option's default shown."""

from __future__ import annotations

import argparse
import re

import pytest
from dagster_cli import fraud_platform_cli

from fraud_platform.cli import build_parser

RST = re.compile(r"`|:[a-z]+:`")


def subcommands() -> dict[str, argparse.ArgumentParser]:
    (sub,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def help_text(*args: str) -> str:
    completed = fraud_platform_cli(*args, "--help")
    assert completed.returncode == 0, completed.stderr
    # argparse wraps lines: compare with the whitespace folded.
    return " ".join(completed.stdout.split())


def test_top_level_help_is_plain_text() -> None:
    text = help_text()
    assert not RST.search(text), text
    assert "fraud-platform: what Dagster's own CLI does not do" in text
    for name in subcommands():
        assert name in text


@pytest.mark.parametrize("command", sorted(subcommands()))
def test_subcommand_help_is_plain_and_shows_defaults(command: str) -> None:
    text = help_text(command)
    assert not RST.search(text), text
    for action in subcommands()[command]._actions:
        if not action.option_strings or action.default in (None, argparse.SUPPRESS, False):
            continue
        assert f"(default: {action.default})" in text, (command, action.dest, text)
