"""A cheaper PBKDF2 for majora-lite (passwords and DOT's hashed client secrets)."""

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class LitePBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """PBKDF2-SHA256 with fewer iterations so token requests stay fast under load."""

    algorithm = "pbkdf2_sha256_lite"
    iterations = 5000
