"""Every subcommand registers and renders its help (argparse formats help lazily, so typos hide)."""

import argparse

from bundlestream.cli import build_parser


def test_every_subcommand_has_renderable_help() -> None:
    parser = build_parser()
    parser.format_help()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    names = set(sub.choices)
    assert {"dev", "topics", "worker", "publish", "eval", "docs", "demo"} <= names
    for name, subparser in sub.choices.items():
        assert subparser.format_help(), name
