"""The ``majora2`` Django app of majora-lite (app label ``majora2`` so scopes read ``majora2.<codename>``)."""
