"""config.example.toml documents every setting, and the loader rejects bad config clearly."""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from pathlib import Path

import pytest

from bot.settings import Settings, SettingsError, load_settings, settings_from_dict

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def _sections() -> dict[str, type]:
    return typing.get_type_hints(Settings)


def test_example_has_every_key_with_its_default() -> None:
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    defaults = Settings()
    for section, cls in _sections().items():
        assert section in data, f"config.example.toml lacks [{section}]"
        fields = {f.name for f in dataclasses.fields(cls)}
        assert set(data[section]) == fields, f"[{section}] keys differ from the settings"
    # Values parse and equal the defaults, so the example documents what you get without it.
    assert settings_from_dict(data) == defaults


def test_every_key_is_commented() -> None:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "[")):
            continue
        assert "=" in stripped, f"line {i + 1}: {line!r}"
        assert lines[i - 1].strip().startswith("#"), f"key without a comment: {stripped}"


def test_load_resolves_paths_relative_to_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "conf" / "citebot.toml"
    config.parent.mkdir()
    config.write_text('[index]\npath = "idx"\nsources = ["articles"]\n', encoding="utf-8")
    settings = load_settings(config)
    assert settings.index.path == str(config.parent / "idx")
    assert settings.index.sources == (str(config.parent / "articles"),)


def test_default_state_path_lives_beside_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "conf" / "citebot.toml"
    config.parent.mkdir()
    # Without a [telegram] section, and with one that leaves state_path out.
    for text in ("[index]\npath = 'idx'\n", "[telegram]\nquestions_per_minute = 3\n"):
        config.write_text(text, encoding="utf-8")
        settings = load_settings(config)
        assert settings.telegram.state_path == str(config.parent / "citebot-bot.sqlite")
    assert settings.telegram.questions_per_minute == 3
    # The index keeps defaulting to the working directory; no config file changes nothing.
    assert settings.index.path == Settings().index.path
    assert load_settings(None).telegram.state_path == "citebot-bot.sqlite"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[nope]\n", "unknown config section [nope]"),
        ("[index]\ncolour = 1\n", "unknown key [index] colour"),
        ("[answer]\nmax_citations = 'three'\n", "[answer] max_citations must be int"),
        ("[index]\nsources = 'a'\n", "[index] sources must be a list"),
        ("[telegram]\nadmin_users = [true]\n", "[telegram] admin_users must be int"),
        ("[index\n", "is not valid TOML"),
    ],
)
def test_bad_config_is_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError) as excinfo:
        load_settings(config)
    assert message in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="config file not found"):
        load_settings(tmp_path / "absent.toml")
