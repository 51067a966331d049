"""Every key areafetch writes is slot-safe on a Redis Cluster: keys used together share a slot."""

from __future__ import annotations

import uuid

from redis.crc import key_slot

from areafetch import history, metrics
from areafetch.queue.flows import _cancel_key
from areafetch.ratelimit._keys import LimiterKeys

PREFIX = "{bull}"


def _slot(key: str) -> int:
    return int(key_slot(key.encode()))


def test_every_key_under_a_hash_tagged_prefix_shares_the_prefix_slot() -> None:
    keys = [
        f"{PREFIX}:areas:wait",  # bullmq's own
        f"{PREFIX}:fetch:marker",
        metrics.index_key(PREFIX),
        metrics.worker_key(PREFIX, "host:123"),
        history._key(PREFIX, 29_000_000),
        _cancel_key(PREFIX, uuid.uuid4()),
    ]
    assert {_slot(key) for key in keys} == {_slot(PREFIX)}


def test_a_limiters_keys_share_one_slot_whatever_the_prefix() -> None:
    for name in ("overpass", "google_places", "submit:bull:client-1"):
        keys = LimiterKeys.for_name(name, "areafetch:limiter")
        assert len({_slot(key) for key in keys.all()}) == 1


def test_without_a_hash_tag_the_metrics_transaction_would_span_two_slots() -> None:
    """Why a cluster needs the tag (and `Settings` refuses one without it)."""
    assert _slot(metrics.index_key("bull")) != _slot(metrics.worker_key("bull", "host:123"))
