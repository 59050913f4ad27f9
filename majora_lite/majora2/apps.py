"""App config: label ``majora2`` as in Majora, so permissions are ``majora2.<codename>``."""

from django.apps import AppConfig


class Majora2Config(AppConfig):
    name = "majora_lite.majora2"
    label = "majora2"
    verbose_name = "majora-lite"
    default_auto_field = "django.db.models.AutoField"
