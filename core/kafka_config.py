"""Client configurations for Kafka, built from the settings: one place for every knob."""

from __future__ import annotations

from core.settings import Settings


def producer_config(settings: Settings, **overrides) -> dict:
    """An idempotent producer: no duplicates or reordering on retry, acks from all replicas."""
    config = {
        "bootstrap.servers": settings.require("kafka_bootstrap_servers"),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        # Keep retrying for two minutes (a broker restart takes ~5 s) before a delivery fails for good.
        "delivery.timeout.ms": 120_000,
    }
    config.update(overrides)
    return config


def consumer_config(settings: Settings, group_id: str | None = None, **overrides) -> dict:
    """A consumer that never commits on its own: offsets are stored only after the database commit."""
    config = {
        "bootstrap.servers": settings.require("kafka_bootstrap_servers"),
        "group.id": group_id or settings.consumer_group,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
    }
    config.update(overrides)
    return config
