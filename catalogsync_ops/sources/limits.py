"""Polite limits per platform, shared by every worker thread of the process.

Being banned by a platform is what NAS owners fear most, so requests to a platform's own API
are paced: at most `concurrency` at once, and their starts spaced by 1/`rate` seconds with a
random jitter (no robotic rhythm). A 429 answer stops every request to that platform until its
`Retry-After` has passed (or a minute when it gives none).
"""
from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

JITTER = 0.3  # each gap is 1/rate times a factor in [1, 1.3)
DEFAULT_BACK_OFF_S = 60.0


class Limiter:
    """Paces the calls of one platform: a semaphore for concurrency, a schedule for the rate."""

    def __init__(self, *, rate: float, concurrency: int, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None) -> None:
        self.rate = rate
        self.concurrency = concurrency
        self._slots = threading.BoundedSemaphore(max(1, concurrency))
        self._lock = threading.Lock()
        self._next_start = 0.0
        self._blocked_until = 0.0
        self._clock, self._sleep = clock, sleep
        self._rng = rng or random.Random()

    def configure(self, *, rate: float, concurrency: int) -> None:
        """New settings (the semaphore is remade only when the concurrency changes)."""
        with self._lock:
            self.rate = rate
            if concurrency != self.concurrency:
                self.concurrency = concurrency
                self._slots = threading.BoundedSemaphore(max(1, concurrency))

    def back_off(self, seconds: float | None) -> None:
        """The platform said 429: no request starts before `seconds` from now."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + (seconds or DEFAULT_BACK_OFF_S))

    def blocked_for(self) -> float:
        """Seconds until a 429 back-off is over (0 when there is none)."""
        return max(0.0, self._blocked_until - self._clock())

    @contextmanager
    def slot(self) -> Iterator[float]:
        """Hold one of the platform's request slots; yields how long the caller waited."""
        slots = self._slots
        started = self._clock()
        slots.acquire()
        try:
            with self._lock:
                now = self._clock()
                start = max(now, self._next_start, self._blocked_until)
                gap = (1.0 / self.rate) * (1 + self._rng.random() * JITTER) if self.rate > 0 else 0.0
                self._next_start = start + gap
            if start > now:
                self._sleep(start - now)
            yield self._clock() - started
        finally:
            slots.release()


_limiters: dict[str, Limiter] = {}
_registry_lock = threading.Lock()


def limiter_for(source: str, *, rate: float, concurrency: int) -> Limiter:
    """The process-wide limiter of a platform (made on first use, settings refreshed after)."""
    with _registry_lock:
        limiter = _limiters.get(source)
        if limiter is None:
            limiter = _limiters[source] = Limiter(rate=rate, concurrency=concurrency)
        elif (limiter.rate, limiter.concurrency) != (rate, concurrency):
            limiter.configure(rate=rate, concurrency=concurrency)
        return limiter
