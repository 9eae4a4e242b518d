"""The bot's update journal (each update handled once, across crashes), its bound on updates in
flight, and the fair scheduling of engine calls between users."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from telegram import Update

from bot.telegram.fair import FairPool
from bot.telegram.intake import JournaledQueue, JournalingProcessor, replay_unfinished
from bot.telegram.state.bot_state import BotState
from bot.telegram.state.journal import UPDATE_MEMORY_SECONDS
from bot.telegram.state.store import StateStore
from fake_bot_api import private_chat, user


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _update(update_id: int, text: str = "When was it found?") -> Update:
    ann = user(7, "Ann")
    message = {"message_id": update_id, "date": 0, "chat": private_chat(ann), "from": ann,
               "text": text}
    return Update.de_json({"update_id": update_id, "message": message}, None)  # type: ignore[arg-type]


# --- the journal -----------------------------------------------------------------------------


def test_an_update_is_claimed_once_and_survives_reopening_until_handled(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite"
    store = StateStore(path, ttl_hours=1)
    assert store.claim_update(5, '{"update_id": 5}')
    assert store.claim_update(6, '{"update_id": 6}')
    assert not store.claim_update(5, '{"update_id": 5}')  # a redelivery
    store.finish_update(6)
    store.close()
    store = StateStore(path, ttl_hours=1)  # the bot restarted
    assert not store.claim_update(6, "{}")  # handled before the restart: never again
    assert store.unfinished_updates(1) == ([(5, '{"update_id": 5}')], [])
    # Its retry killed the bot too: the next restart gives up on it.
    assert store.unfinished_updates(1) == ([], [5])
    assert store.unfinished_updates(1) == ([], [])
    assert not store.claim_update(5, "{}")


def test_update_ids_are_forgotten_long_after_telegram_has(tmp_path: Path) -> None:
    clock = Clock()
    store = StateStore(tmp_path / "bot.sqlite", ttl_hours=1, clock=clock)
    store.claim_update(5, "{}")
    store.finish_update(5)
    clock.now += UPDATE_MEMORY_SECONDS - 60
    store.purge()
    assert not store.claim_update(5, "{}")
    clock.now += 120
    store.purge()
    # Telegram picks update ids afresh after a week without updates: an old id is new again.
    assert store.claim_update(5, "{}")


def test_queue_skips_redeliveries_and_replays_what_a_crash_left(tmp_path: Path) -> None:
    async def first_run() -> list[int]:
        store = BotState(tmp_path / "bot.sqlite", ttl_hours=1, stats_retention_days=30)
        queue = JournaledQueue(store, max_in_flight=10)
        processor = JournalingProcessor(queue)
        for update_id in (1, 2, 1):
            await queue.put(_update(update_id))
        queued = [queue.get_nowait() for _ in range(queue.qsize())]
        assert isinstance(queued[0], Update)

        async def handlers() -> None:
            pass

        await processor.process_update(queued[0], handlers())  # update 1 handled...
        store.close()  # ...and the bot dies before update 2 is
        return [u.update_id for u in queued if isinstance(u, Update)]

    assert asyncio.run(first_run()) == [1, 2]

    async def restart() -> list[int]:
        store = BotState(tmp_path / "bot.sqlite", ttl_hours=1, stats_retention_days=30)
        queue = JournaledQueue(store, max_in_flight=10)
        assert await replay_unfinished(queue, store, None) == 1  # type: ignore[arg-type]
        await queue.put(_update(1))  # Telegram delivers both again
        await queue.put(_update(2))
        queued = [queue.get_nowait() for _ in range(queue.qsize())]
        store.close()
        return [u.update_id for u in queued if isinstance(u, Update)]

    assert asyncio.run(restart()) == [2]


def test_queue_stops_taking_updates_while_too_many_are_in_flight(tmp_path: Path) -> None:
    async def main() -> None:
        store = BotState(tmp_path / "bot.sqlite", ttl_hours=1, stats_retention_days=30)
        queue = JournaledQueue(store, max_in_flight=2)
        processor = JournalingProcessor(queue)
        await queue.put(_update(1))
        await queue.put(_update(2))
        third = asyncio.create_task(queue.put(_update(3)))
        await asyncio.sleep(0.2)
        assert not third.done() and queue.qsize() == 2  # the update source waits

        async def handlers() -> None:
            pass

        await processor.process_update(queue.get_nowait(), handlers())
        await asyncio.wait_for(third, 5)
        assert queue.qsize() == 2
        store.close()

    asyncio.run(main())


# --- fair turns --------------------------------------------------------------------------------


def test_users_take_turns_so_a_noisy_one_cannot_starve_the_others() -> None:
    order: list[str] = []
    release = threading.Event()

    def engine(name: str) -> str:
        if name == "noisy0":
            release.wait(5)
        order.append(name)
        return name.upper()

    async def main() -> list[str]:
        pool = FairPool(1)
        noisy = [asyncio.create_task(pool.run("noisy", engine, f"noisy{i}")) for i in range(5)]
        await asyncio.sleep(0.1)  # noisy0 runs; noisy1-4 wait
        quiet = [asyncio.create_task(pool.run(u, engine, u)) for u in ("ann", "bob")]
        await asyncio.sleep(0.1)
        assert pool.waiting() == 6
        release.set()
        results = await asyncio.gather(*noisy, *quiet)
        pool.shutdown()
        return results

    results = asyncio.run(main())
    assert results == ["NOISY0", "NOISY1", "NOISY2", "NOISY3", "NOISY4", "ANN", "BOB"]
    # First come, first served would have made Ann and Bob wait for all of the noisy user's.
    assert order == ["noisy0", "ann", "bob", "noisy1", "noisy2", "noisy3", "noisy4"]


def test_one_call_per_user_at_a_time_and_errors_reach_the_caller() -> None:
    running: dict[str, int] = {}
    most: dict[str, int] = {}
    lock = threading.Lock()

    def engine(key: str) -> None:
        with lock:
            running[key] = running.get(key, 0) + 1
            most[key] = max(most.get(key, 0), running[key])
        time.sleep(0.02)
        with lock:
            running[key] -= 1
        if key == "broken":
            raise ValueError("engine failed")

    async def main() -> None:
        pool = FairPool(2)
        calls = [pool.run(k, engine, k) for k in ("ann", "bob") * 4]
        await asyncio.gather(*calls)
        with pytest.raises(ValueError, match="engine failed"):
            await pool.run("broken", engine, "broken")
        assert pool.waiting() == 0
        pool.shutdown()

    asyncio.run(main())
    assert most == {"ann": 1, "bob": 1, "broken": 1}


def test_a_call_whose_asker_went_away_is_skipped() -> None:
    ran: list[str] = []
    release = threading.Event()

    def engine(name: str) -> None:
        if name == "first":
            release.wait(5)
        ran.append(name)

    async def main() -> None:
        pool = FairPool(1)
        first = asyncio.create_task(pool.run("a", engine, "first"))
        await asyncio.sleep(0.05)
        gone = asyncio.create_task(pool.run("b", engine, "gone"))
        await asyncio.sleep(0.05)
        gone.cancel()
        release.set()
        await first
        await pool.run("c", engine, "last")
        pool.shutdown()

    asyncio.run(main())
    assert ran == ["first", "last"]
