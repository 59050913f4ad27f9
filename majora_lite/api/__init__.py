"""Majora's API as majora-lite serves it: the v2 envelope, one module per area, serialisation, tasks.

Layer: above ``majora2`` (the models), below ``web``, ``server`` and ``ops``.
"""
