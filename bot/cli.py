"""The ``citebot`` command line: a thin adapter over the index and the answering engine."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.settings import Settings, load_settings
from index import CitebotError

if TYPE_CHECKING:  # the engine loads numpy, the index and more: only when a command needs it
    from bot.engine import Engine

# Each command module exposes ``register(subparsers, common)``; the parser it adds carries a
# ``handler(args, context) -> int`` default. Modules are imported lazily by name so that
# ``citebot --help`` and light commands never pay for torch.
COMMAND_MODULES = ("bot.cli_index", "bot.cli_answer", "bot.cli_serve")

EngineFactory = Callable[[Settings], "Engine"]


def open_engine(settings: Settings) -> Engine:
    """Open the answering engine over the configured index (the models load on first use)."""
    from bot.engine import Engine

    return Engine.open(settings)


@dataclass(frozen=True)
class CommandContext:
    """What a command runs with besides its arguments: the settings, and how to open the engine."""

    settings: Settings
    engine_factory: EngineFactory = open_engine

    def open_engine(self) -> Engine:
        """The answering engine for these settings."""
        return self.engine_factory(self.settings)


Handler = Callable[[argparse.Namespace, CommandContext], int]


def _common_options(default: object = None) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", metavar="FILE", default=default,
        help="TOML config file (see config.example.toml)",
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


def main(argv: Sequence[str] | None = None, *, engine_factory: EngineFactory = open_engine) -> int:
    """Run the command line; returns the process exit code (``engine_factory`` is for tests)."""
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
    # The one place where a problem the user can fix becomes a line on stderr: commands raise,
    # none prints its own errors, so every command reports them alike.
    try:
        return handler(args, CommandContext(settings_for(args), engine_factory))
    except CitebotError as exc:
        print(f"citebot: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
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
