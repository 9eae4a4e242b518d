"""The Telegram bot's own SQLite state: threads, answers' sources, question stats and the update
journal (one module each), opened and migrated by ``db``, reached through ``StateStore`` and,
from the event loop, ``BotState``."""
