"""The public REST API, v1: API keys only (``Authorization: Bearer hd_live_...``), JSON only."""
