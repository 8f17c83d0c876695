"""Retry backoff and circuit breakers: the policy, kept apart from any SDK.

Backoff is exponential with full jitter (AWS architecture blog, "Exponential
Backoff and Jitter"): the n-th wait is uniform in [0, min(cap, base * 2**n)],
raised to the provider's Retry-After when it sent one.

A circuit per provider and model: CLOSED counts consecutive failures and opens
at the threshold; OPEN refuses calls until the cooldown has passed; then
HALF_OPEN lets one trial call through; its success closes the circuit, its
failure opens it for another cooldown. A cooldown always ends: state is
re-evaluated from the clock on every look, not by a timer that could be lost.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Callable


def backoff_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number `attempt` (0 for the first retry)."""
    delay = rng() * min(cap, base * (2**attempt))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


class CircuitState(enum.IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int,
        cooldown_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[CircuitState], None] | None = None,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._on_change = on_change
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_running = False

    @property
    def state(self) -> CircuitState:
        if self._state is CircuitState.OPEN and self.retry_in() == 0:
            self._set(CircuitState.HALF_OPEN)
        return self._state

    def retry_in(self) -> float:
        """Seconds until an open circuit lets a trial call through."""
        if self._state is not CircuitState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.cooldown_seconds - self._clock())

    def allow(self) -> bool:
        """May a call go through now? In HALF_OPEN only one trial at a time."""
        state = self.state
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.HALF_OPEN and not self._trial_running:
            self._trial_running = True
            return True
        return False

    def success(self) -> None:
        self._failures = 0
        self._trial_running = False
        self._set(CircuitState.CLOSED)

    def failure(self) -> None:
        self._trial_running = False
        self._failures += 1
        if self._state is CircuitState.HALF_OPEN or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
            self._set(CircuitState.OPEN)

    def release(self) -> None:
        """A call that neither succeeded nor failed the provider (e.g. cancelled)."""
        self._trial_running = False

    def _set(self, state: CircuitState) -> None:
        if state is not self._state:
            self._state = state
            if self._on_change:
                self._on_change(state)
