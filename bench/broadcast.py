"""Broadcast fan-out: time for one published message to reach 1,000 in-process subscribers.

Each subscriber is a task iterating its subscription (as a WebSocket handler would); a round
publishes one message and waits until every subscriber has it. The floor is the same fan-out
written by hand with one ``asyncio.Queue`` per subscriber. With ``--redis-url`` the message also
makes the trip through a Redis server (one subscription per process, fanned out locally).

    python bench/broadcast.py                       # memory:// vs the hand-written floor
    python bench/broadcast.py --redis-url redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aaf.broadcast import Broadcast

Publish = Callable[[str], Awaitable[None]]


class Arrivals:
    """Counts deliveries; ``done`` is set when the round's last subscriber got the message."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.done = asyncio.Event()

    def reset(self) -> None:
        self.count = 0
        self.done.clear()

    def arrived(self) -> None:
        self.count += 1
        if self.count == self.expected:
            self.done.set()


async def time_rounds(publish: Publish, arrivals: Arrivals, rounds: int) -> float:
    """Median microseconds from publish() until every subscriber has the message."""
    samples = []
    gc.collect()
    for n in range(rounds):
        arrivals.reset()
        start = time.perf_counter_ns()
        await publish(f"message {n}")
        await asyncio.wait_for(arrivals.done.wait(), 30)
        samples.append((time.perf_counter_ns() - start) / 1000)
    return statistics.median(samples)


async def raw_queues(subscribers: int, rounds: int) -> float:
    arrivals = Arrivals(subscribers)
    queues: list[asyncio.Queue[str]] = [asyncio.Queue(maxsize=1000) for _ in range(subscribers)]

    async def consume(queue: asyncio.Queue[str]) -> None:
        while True:
            await queue.get()
            arrivals.arrived()

    tasks = [asyncio.ensure_future(consume(q)) for q in queues]
    await asyncio.sleep(0)

    async def publish(message: str) -> None:
        for queue in queues:
            queue.put_nowait(message)

    try:
        await time_rounds(publish, arrivals, 3)  # warm-up
        return await time_rounds(publish, arrivals, rounds)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def with_broadcast(url: str, subscribers: int, rounds: int) -> float:
    arrivals = Arrivals(subscribers)
    ready = Arrivals(subscribers)
    async with Broadcast(url) as broadcast:

        async def consume() -> None:
            async with broadcast.subscribe("bench") as subscription:
                ready.arrived()
                async for _ in subscription:
                    arrivals.arrived()

        tasks = [asyncio.ensure_future(consume()) for _ in range(subscribers)]
        await asyncio.wait_for(ready.done.wait(), 30)

        async def publish(message: str) -> None:
            await broadcast.publish("bench", message)

        try:
            await time_rounds(publish, arrivals, 3)  # warm-up
            return await time_rounds(publish, arrivals, rounds)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def run(subscribers: int, rounds: int, redis_url: str | None) -> None:
    results = {
        "asyncio.Queue": await raw_queues(subscribers, rounds),
        "memory://": await with_broadcast("memory://", subscribers, rounds),
    }
    if redis_url:
        results["redis://"] = await with_broadcast(redis_url, subscribers, rounds)
    floor = results["asyncio.Queue"]
    print(f"\nBroadcast fan-out of one message to {subscribers} subscribers (median of {rounds})")
    print(f"{'backend':<16}{'µs total':>10}{'µs/subscriber':>15}{'vs floor':>10}")
    for name, us in results.items():
        print(f"{name:<16}{us:>10.0f}{us / subscribers:>15.3f}{us / floor:>9.2f}x")
    print("(floor = one hand-written asyncio.Queue per subscriber, same run; lower is better)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--redis-url", help="also measure through this Redis server")
    args = parser.parse_args()
    rounds = 10 if args.quick else 50
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(run(args.subscribers, rounds, args.redis_url))


if __name__ == "__main__":
    main()
