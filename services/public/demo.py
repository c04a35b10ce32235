"""Demo data of the public desk, loaded by the project's demo loader."""

from __future__ import annotations

from services.public.models import Open311ApiKey, hash_api_key

DEMO_OPEN311_KEY = "demo-open311-key"


def load() -> Open311ApiKey:
    """Create the integrator key ``demo-open311-key`` (idempotent; re-activates it if it was turned off)."""
    key = Open311ApiKey.objects.filter(key_hash=hash_api_key(DEMO_OPEN311_KEY)).first()
    if key is None:
        key, _raw = Open311ApiKey.objects.issue(integrator="演示接入方（Open311）", raw_key=DEMO_OPEN311_KEY)
    elif not key.active:
        key.active = True
        key.save(update_fields=["active"])
    return key
