"""The one typed settings object of citebot, loaded from TOML in one place."""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index import CitebotError
from index.settings import (
    EmbeddingSettings,
    IndexSettings,
    KnowledgeBaseSettings,
    MilvusSettings,
    SearchSettings,
    SourcesSettings,
    SplitSettings,
)


class SettingsError(CitebotError):
    """A config file that cannot be used; the message is one actionable line."""


@dataclass(frozen=True)
class RerankSettings:
    """Optional cross-encoder reranking of the top candidates (off when ``model`` is empty)."""

    model: str = ""
    top_k: int = 20
    weight: float = 1.0


@dataclass(frozen=True)
class AnswerSettings:
    """How answers are composed and when citebot says it doesn't know."""

    max_citations: int = 3
    max_sentences: int = 2
    abstain_threshold: float = 0.5
    # Read the best paragraphs' likeliest sentences with the question (bot/selector.py).
    selector: bool = True


@dataclass(frozen=True)
class ConversationSettings:
    """How much of a conversation a follow-up question can lean on."""

    max_turns: int = 4


@dataclass(frozen=True)
class TelegramSettings:
    """The Telegram adapter. The token itself only ever comes from the environment."""

    token_env: str = "TELEGRAM_BOT_TOKEN"
    base_url: str = ""
    base_file_url: str = ""
    mode: str = "polling"
    webhook_url: str = ""
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    allowed_chats: tuple[int, ...] = ()
    admin_users: tuple[int, ...] = ()
    questions_per_minute: int = 10
    thread_ttl_hours: float = 72.0
    # /stats counts every question ever asked, but keeps each one's latency only this long.
    stats_retention_days: float = 30.0
    state_path: str = "citebot-bot.sqlite"
    # How often a running bot checks for a newly built index generation (and drops old threads).
    refresh_seconds: float = 30.0
    # Seconds to connect to, send to and wait for the Bot API before a request counts as failed.
    request_timeout_seconds: float = 5.0


@dataclass(frozen=True)
class Settings:
    """All of citebot's configuration; built by ``load_settings`` and passed explicitly."""

    index: IndexSettings = field(default_factory=IndexSettings)
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    split: SplitSettings = field(default_factory=SplitSettings)
    search: SearchSettings = field(default_factory=SearchSettings)
    sources: SourcesSettings = field(default_factory=SourcesSettings)
    rerank: RerankSettings = field(default_factory=RerankSettings)
    answer: AnswerSettings = field(default_factory=AnswerSettings)
    conversation: ConversationSettings = field(default_factory=ConversationSettings)
    telegram: TelegramSettings = field(default_factory=TelegramSettings)
    milvus: MilvusSettings = field(default_factory=MilvusSettings)

    @property
    def knowledge_base(self) -> KnowledgeBaseSettings:
        """The part of the settings the ``index`` package needs."""
        return KnowledgeBaseSettings(
            index=self.index, embedding=self.embedding, split=self.split, search=self.search,
            sources=self.sources,
            milvus=self.milvus,
        )

    def with_index_path(self, path: str | os.PathLike[str]) -> Settings:
        """Return a copy whose index lives at ``path`` (the CLI's ``--index``)."""
        return dataclasses.replace(
            self, index=dataclasses.replace(self.index, path=str(Path(path)))
        )


# Keys whose values are paths: relative ones are taken relative to the config file's folder.
_PATH_KEYS = {
    ("index", "path"), ("index", "sources"), ("telegram", "state_path"), ("embedding", "cache_dir"),
    ("milvus", "uri"),
}
# Path keys whose default, too, lives beside the config file when there is one: the bot's state
# belongs with the bot's config, not wherever `citebot serve` happens to be started.
_DEFAULTS_BESIDE_CONFIG = {("telegram", "state_path")}


def _coerce(section: str, key: str, value: Any, annotation: Any) -> Any:
    """Check one TOML value against its declared type, converting lists to tuples."""
    hint = f"[{section}] {key}"
    origin = typing.get_origin(annotation)
    if origin is tuple:
        (item_type, _ellipsis) = typing.get_args(annotation)
        if not isinstance(value, list):
            raise SettingsError(f"{hint} must be a list, got {type(value).__name__}")
        return tuple(_coerce(section, key, item, item_type) for item in value)
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        return _table(f"{section}.{key}", value, annotation)
    if origin in (typing.Union, types.UnionType):
        raise SettingsError(f"{hint}: unsupported setting type")  # no optional settings exist
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is bool or isinstance(value, bool):
        if annotation is not bool or not isinstance(value, bool):
            raise SettingsError(f"{hint} must be {annotation.__name__}, got {value!r}")
        return value
    if not isinstance(value, annotation):
        raise SettingsError(f"{hint} must be {annotation.__name__}, got {value!r}")
    return value


def _typed_keys(label: str, section: str, values: dict[str, Any], cls: type) -> dict[str, Any]:
    """A TOML table's keys checked against ``cls``'s fields and coerced to their types."""
    field_types = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in field_types:
            known = ", ".join(sorted(field_types))
            raise SettingsError(f"unknown key {label} {key} (known: {known})")
        kwargs[key] = _coerce(section, key, value, field_types[key])
    return kwargs


def _table(section: str, value: Any, cls: type) -> Any:
    """One table of an array of tables (``[[sources.feeds]]``) as its settings dataclass."""
    if not isinstance(value, dict):
        raise SettingsError(f"[[{section}]] entries must be tables, got {value!r}")
    kwargs = _typed_keys(f"[[{section}]]", section, value, cls)
    required = [
        f.name for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [name for name in required if name not in kwargs]
    if missing:
        raise SettingsError(f"each [[{section}]] needs {', '.join(missing)}")
    return cls(**kwargs)


def _resolve_paths(section: str, key: str, value: Any, base: Path) -> Any:
    if (section, key) not in _PATH_KEYS or value == "":  # empty: the default location
        return value
    if isinstance(value, str) and "://" in value:  # a server's URI, not a file
        return value
    if isinstance(value, tuple):
        return tuple(str(base / Path(v).expanduser()) for v in value)
    return str(base / Path(value).expanduser())


def settings_from_dict(data: dict[str, Any], base: Path | None = None) -> Settings:
    """Build settings from parsed TOML, rejecting unknown sections and keys with one line."""
    hints = typing.get_type_hints(Settings)
    sections: dict[str, Any] = {}
    for section, values in data.items():
        if section not in hints:
            known = ", ".join(sorted(hints))
            raise SettingsError(f"unknown config section [{section}] (known: {known})")
        if not isinstance(values, dict):
            raise SettingsError(f"[{section}] must be a table")
        cls = hints[section]
        kwargs = _typed_keys(f"[{section}]", section, values, cls)
        if base:
            kwargs = {key: _resolve_paths(section, key, v, base) for key, v in kwargs.items()}
        sections[section] = cls(**kwargs)
    if base is not None:
        for section, key in _DEFAULTS_BESIDE_CONFIG:
            if key not in (data.get(section) or {}):
                current = sections.get(section) or hints[section]()
                default = getattr(current, key)
                sections[section] = dataclasses.replace(current, **{key: str(base / default)})
    return Settings(**sections)


def load_settings(path: str | os.PathLike[str] | None) -> Settings:
    """Load settings from a TOML file; ``None`` gives the defaults."""
    if path is None:
        return Settings()
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"config file not found: {file}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot read config file {file}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {file} is not valid TOML: {exc}") from None
    return settings_from_dict(data, base=file.resolve().parent)
