"""Space out message starts across every thread that sends: `[mail.smtp] rate_limit`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Spaces out message starts so at most `rate` begin per second across every thread sharing it.

    A rate of 0 means no limit. `clock` (seconds, monotonic) and `sleep` are replaceable for tests.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate < 0:
            raise ValueError(f"rate must be 0 (no limit) or more, not {rate}")
        self._interval = 1.0 / rate if rate else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_start: float | None = None

    def wait(self) -> None:
        """Block until the caller may start its next message."""
        if not self._interval:
            return
        delay = self._reserve_start()
        if delay > 0:
            self._sleep(delay)

    def _reserve_start(self) -> float:
        # Each caller books the next free slot under the lock, then sleeps without it, so
        # threads queue up in order instead of waking together.
        with self._lock:
            now = self._clock()
            start = now if self._next_start is None else max(now, self._next_start)
            self._next_start = start + self._interval
            return start - now
