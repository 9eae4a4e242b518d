"""The terminal conversation (``citebot chat``): a readline prompt, or JSON lines when piped."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from typing import Protocol, TextIO

from bot.models import Conversation, Reply
from bot.render import render_answer, terminal_width

HELP = """Ask a question about the articles; follow-up questions may refer to earlier answers.
Commands:
  /new   start a new conversation (forget earlier questions)
  /help  show this help
  /quit  leave (Ctrl-D works too)"""
PROMPT = "you> "


class Answerer(Protocol):
    """What the chat needs from the engine."""

    def ask(self, question: str, conversation: Conversation = ...) -> Reply:
        """Answer a question in a conversation."""
        ...


class ChatSession:
    """One conversation: turns lines (questions or /commands) into printed replies."""

    def __init__(
        self,
        engine: Answerer,
        emit: Callable[[str], None],
        as_json: bool,
        width: Callable[[], int] = lambda: 0,
    ) -> None:
        self.engine = engine
        self.emit = emit
        self.as_json = as_json
        # Asked afresh for every answer, so a resized terminal is wrapped at its new width.
        self.width = width
        self.conversation = Conversation()

    def handle(self, line: str) -> bool:
        """Handle one input line; returns False when the session should end."""
        text = line.strip()
        if not text:
            return True
        if text.startswith("/"):
            return self._command(text)
        reply = self.engine.ask(text, self.conversation)
        self.conversation = reply.conversation
        if self.as_json:
            self.emit(json.dumps(reply.answer.to_json(), ensure_ascii=False))
        else:
            self.emit(render_answer(reply.answer, self.width()) + "\n")
        return True

    def _command(self, text: str) -> bool:
        command = text.split()[0].lower()
        if command in ("/quit", "/exit", "/q"):
            return False
        if command == "/new":
            self.conversation = Conversation()
            if not self.as_json:
                self.emit("(new conversation)\n")
        elif command == "/help":
            if not self.as_json:
                self.emit(HELP + "\n")
        elif not self.as_json:
            self.emit(f"unknown command {command}; /help lists the commands\n")
        return True


def run_lines(engine: Answerer, lines: Iterable[str], out: TextIO, as_json: bool = True) -> int:
    """Run a conversation over ``lines`` (e.g. piped stdin), one reply per question line."""

    def emit(text: str) -> None:
        print(text, file=out, flush=True)

    session = ChatSession(engine, emit, as_json, width=lambda: terminal_width(out))
    for line in lines:
        if not session.handle(line):
            break
    return 0


def run_interactive(engine: Answerer, out: TextIO = sys.stdout) -> int:
    """The interactive chat with line editing and history (readline) where available."""
    try:
        import readline  # noqa: F401  (importing it gives input() line editing and history)
    except ImportError:  # not on every platform; plain input() still works
        pass

    def emit(text: str) -> None:
        print(text, file=out, flush=True)

    emit("citebot: ask about the articles. /help for commands, Ctrl-D to leave.\n")
    session = ChatSession(engine, emit, as_json=False, width=lambda: terminal_width(out))
    while True:
        try:
            line = input(PROMPT)
        except EOFError:
            emit("")
            return 0
        except KeyboardInterrupt:
            # Ctrl-C drops the line being typed, like a shell; Ctrl-D leaves.
            emit("")
            continue
        try:
            if not session.handle(line):
                return 0
        except KeyboardInterrupt:
            emit("(interrupted)\n")
