"""``citebot serve`` refuses to start, with one actionable line, when it cannot run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fake_bot_api import REPO


def _serve(
    tmp_path: Path, config: str | None, token: str | None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    env["PYTHONPATH"] = str(REPO)
    if token is not None:
        env["TELEGRAM_BOT_TOKEN"] = token
    args = [sys.executable, "-m", "bot.cli", "serve"]
    if config is not None:
        (tmp_path / "citebot.toml").write_text(config, encoding="utf-8")
        args += ["--config", str(tmp_path / "citebot.toml")]
    return subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)


def test_serve_without_a_token_says_how_to_get_one(tmp_path: Path) -> None:
    done = _serve(tmp_path, None, token=None)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for hint in ("BotFather", "TELEGRAM_BOT_TOKEN", "citebot chat"):
        assert hint in lines[0]


def test_the_token_variable_is_configurable(tmp_path: Path) -> None:
    done = _serve(tmp_path, '[telegram]\ntoken_env = "MY_BOT_TOKEN"\n', token="1:x")
    assert done.returncode != 0 and "MY_BOT_TOKEN" in done.stderr


def test_webhook_mode_needs_a_public_url(tmp_path: Path) -> None:
    done = _serve(tmp_path, '[telegram]\nmode = "webhook"\n', token="1:secret-token")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        "citebot: [telegram] webhook mode needs webhook_url, the public https:// URL of the bot"
    ]
    assert "secret-token" not in done.stderr + done.stdout


def test_unknown_mode_is_rejected(tmp_path: Path) -> None:
    done = _serve(tmp_path, '[telegram]\nmode = "push"\n', token="1:x")
    assert done.returncode != 0 and "polling" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
