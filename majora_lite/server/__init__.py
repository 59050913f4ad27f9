"""The running server: Django settings, the URL map, the WSGI app (slash merging, fault injection, limits)
and waitress.

Layer: above ``web``, ``api`` and ``majora2``, below ``ops``.
"""
