"""Prometheus metrics of one service instance (its own registry, so several apps in one process,
as in tests, never share counters)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "safealign_requests",
            "HTTP requests by route and status code.",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "safealign_request_seconds",
            "Request latency by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.flags = Counter(
            "safealign_flags",
            "Flagged verdicts by stage and category.",
            ["stage", "category"],
            registry=self.registry,
        )
        self.actions = Counter(
            "safealign_actions",
            "Policy actions taken by stage.",
            ["stage", "action"],
            registry=self.registry,
        )
        self.errors = Counter(
            "safealign_errors",
            "Errors by type (guard_timeout, upstream_error, ...).",
            ["type"],
            registry=self.registry,
        )
        self.guard_batch = Histogram(
            "safealign_guard_batch_size",
            "Items per batched guard call.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=self.registry,
        )
        self.guard_seconds = Histogram(
            "safealign_guard_batch_seconds",
            "Seconds per batched guard call.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def on_batch(self, size: int, seconds: float) -> None:
        self.guard_batch.observe(size)
        self.guard_seconds.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
