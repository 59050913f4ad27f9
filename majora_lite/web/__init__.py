"""The browser and OAuth side: login and TOTP pages, the OAuth validator, the bearer-token middleware.

Layer: above ``api`` (it counts into the API's counters), below ``server`` and ``ops``.
"""
