"""Operating majora-lite: the command line, admin operations, seeding, definition loaders, ``approve`` and
the ``LiteServer`` harness.

Layer: the top one; nothing in majora-lite imports it.
"""
