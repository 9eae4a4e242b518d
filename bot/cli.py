"""The ``citebot`` command line: a thin adapter over the index and the answering engine."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from bot.settings import Settings, SettingsError, load_settings
from index.errors import CitebotIndexError

# Each command module exposes ``register(subparsers, common)``; the parser it adds carries a
# ``handler(args, settings) -> int`` default. Modules are imported lazily by name so that
# ``citebot --help`` and light commands never pay for torch.
COMMAND_MODULES = ("bot.cli_index", "bot.cli_answer", "bot.cli_serve")

Handler = Callable[[argparse.Namespace, Settings], int]


def _common_options(default: object = None) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", metavar="FILE", default=default, help="TOML config file (see config.example.toml)"
    )
    common.add_argument(
        "--index", metavar="DIR", default=default, help="index directory (overrides [index] path)"
    )
    common.add_argument(
        "-v", "--verbose", action="store_true", default=default or False,
        help="log progress and details",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every available command registered."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="citebot",
        description="Answer questions over your articles with verbatim, cited quotes.",
        parents=[_common_options()],
    )
    # Subcommands take the same options; SUPPRESS keeps an option given before the subcommand
    # from being overwritten by the subcommand's own default.
    common = _common_options(default=argparse.SUPPRESS)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(subparsers, common)
    return parser


def settings_for(args: argparse.Namespace) -> Settings:
    """Load the config named by ``--config`` and apply ``--index``."""
    settings = load_settings(args.config)
    if getattr(args, "index", None):
        settings = settings.with_index_path(args.index)
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return handler(args, settings_for(args))
    except (SettingsError, CitebotIndexError) as exc:
        print(f"citebot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("citebot: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`citebot ask … | head`): stop quietly, and point stdout at
        # /dev/null so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    raise SystemExit(main())
