"""``citebot serve`` refuses to start, with one actionable line, when it cannot run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.telegram.logs import REDACTED
from fake_bot_api import REPO, FakeBotApi


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


def test_an_unreachable_api_is_reported_before_the_models_load_without_the_token(
    tmp_path: Path,
) -> None:
    with FakeBotApi() as api:
        api.garble_next("getMe")  # a proxy's error page quoting the URL, token included
        config = f'[telegram]\nbase_url = "{api.base_url}"\n'
        done = _serve(tmp_path, config, token=api.token)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]  # one line
    assert done.stderr.startswith("citebot: cannot reach the Telegram Bot API: Bad Gateway")
    assert f"/bot{REDACTED}/getMe" in done.stderr
    assert api.token not in done.stderr + done.stdout


def test_a_rejected_token_is_reported_before_the_models_load(tmp_path: Path) -> None:
    with FakeBotApi() as api:
        config = f'[telegram]\nbase_url = "{api.base_url}"\n'
        done = _serve(tmp_path, config, token="4242:not-the-right-one")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "citebot: Telegram rejected the token in TELEGRAM_BOT_TOKEN; check it with @BotFather"
    )
    assert "not-the-right-one" not in done.stderr + done.stdout
