"""The way in: who is calling (API key -> tenant and tier) and may they, now.

Every RPC passes here first: authenticate, then admit against the rate limits
of the key and of its tenant. Calls without a valid key are limited per client
address, so guessing keys is slow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from grpc import aio

from services.common import errors
from services.common.context import set_tenant
from services.edge import metrics
from services.edge.auth import KeyRecord, KeyStore
from services.edge.ratelimit import Decision, LimiterUnavailable, Quota, RateLimiter
from services.edge.tiers import Tier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    key: KeyRecord
    tier: Tier

    @property
    def tenant(self) -> str:
        return self.key.tenant


def bearer_token(context: aio.ServicerContext) -> str | None:
    for name, value in context.invocation_metadata() or ():
        if name == "authorization" and isinstance(value, str):
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


def client_address(context: aio.ServicerContext) -> str:
    """The peer's IP without the port: `ipv4:1.2.3.4:5678` -> `1.2.3.4`."""
    peer = context.peer() or "unknown"
    kind, _, rest = peer.partition(":")
    if kind == "ipv6":
        return rest.rsplit(":", 1)[0].strip("[]")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    return peer


class Gate:
    def __init__(
        self,
        keys: KeyStore,
        tiers: dict[str, Tier],
        limiter: RateLimiter,
        *,
        unauthenticated_limit: int,
        window_seconds: float,
    ) -> None:
        self.keys = keys
        self.tiers = tiers
        self.limiter = limiter
        self.unauthenticated_limit = unauthenticated_limit
        self.window_seconds = window_seconds

    async def authenticate(self, context: aio.ServicerContext, rpc: str) -> Caller:
        token = bearer_token(context)
        record = await self.keys.lookup(token) if token else None
        if record is None:
            address = client_address(context)
            quota = Quota(
                key=f"addr:{address}",
                subject=f"client address {address}: unauthenticated requests",
                limit=self.unauthenticated_limit,
                cost=1,
                reason="ADDRESS_RATE_LIMITED",
            )
            await self._enforce(rpc, [quota])
            reason = "API_KEY_MISSING" if token is None else "API_KEY_INVALID"
            metrics.REJECTIONS.labels(rpc, reason).inc()
            raise errors.Unauthenticated(
                "missing API key: send `authorization: Bearer <key>`"
                if token is None
                else "invalid API key",
                reason=reason,
            )
        set_tenant(record.tenant)
        tier = self.tiers.get(record.tier)
        if tier is None:
            log.error(
                "key has an unknown tier", extra={"key_id": record.key_id, "tier": record.tier}
            )
            metrics.REJECTIONS.labels(rpc, "TIER_UNKNOWN").inc()
            raise errors.PermissionDenied("the key's tier is not configured", reason="TIER_UNKNOWN")
        metrics.REQUESTS.labels(rpc, tier.name).inc()
        return Caller(record, tier)

    def quotas(self, caller: Caller, tokens: int) -> list[Quota]:
        key, tenant, tier = caller.key.key_id, caller.tenant, caller.tier
        window = f"{self.window_seconds:g}s"
        # {tenant} is a Redis Cluster hash tag: one decision's keys share a slot.
        quotas = [
            Quota(
                f"{{{tenant}}}:key:{key}:req",
                f"key {key}: requests per {window}",
                tier.key_requests_per_window,
                1,
                "KEY_RATE_LIMITED",
            ),
            Quota(
                f"{{{tenant}}}:tenant:req",
                f"tenant {tenant}: requests per {window}",
                tier.tenant_requests_per_window,
                1,
                "TENANT_RATE_LIMITED",
            ),
        ]
        if tokens > 0:
            quotas += [
                Quota(
                    f"{{{tenant}}}:key:{key}:tok",
                    f"key {key}: tokens per {window}",
                    tier.key_tokens_per_window,
                    tokens,
                    "KEY_TOKEN_LIMITED",
                ),
                Quota(
                    f"{{{tenant}}}:tenant:tok",
                    f"tenant {tenant}: tokens per {window}",
                    tier.tenant_tokens_per_window,
                    tokens,
                    "TENANT_TOKEN_LIMITED",
                ),
            ]
        return quotas

    async def admit(self, caller: Caller, rpc: str, tokens: int = 0) -> None:
        """Count the call (and its estimated tokens) or raise RESOURCE_EXHAUSTED."""
        await self._enforce(rpc, self.quotas(caller, tokens))

    async def _enforce(self, rpc: str, quotas: list[Quota]) -> None:
        try:
            decision = await self.limiter.admit(quotas)
        except LimiterUnavailable:
            metrics.REJECTIONS.labels(rpc, "LIMITER_UNAVAILABLE").inc()
            raise errors.Unavailable(
                "rate limiting is unavailable; retry later",
                reason="LIMITER_UNAVAILABLE",
                retry_after=1.0,
            ) from None
        if not decision.admitted:
            raise self._rejection(rpc, decision)

    @staticmethod
    def _rejection(rpc: str, decision: Decision) -> errors.ResourceExhausted:
        quota = decision.violated
        assert quota is not None
        metrics.REJECTIONS.labels(rpc, quota.reason).inc()
        if decision.retry_after is None:
            return errors.ResourceExhausted(
                f"the request alone exceeds the limit ({quota.subject}: {quota.limit})",
                reason=quota.reason,
                violations=[(quota.subject, f"request needs {quota.cost}, limit {quota.limit}")],
            )
        return errors.ResourceExhausted(
            f"rate limit reached ({quota.subject}: {quota.limit}); retry in "
            f"{decision.retry_after:.1f}s",
            reason=quota.reason,
            retry_after=decision.retry_after,
            violations=[(quota.subject, f"limit {quota.limit} reached")],
        )
