"""``python -m majora_lite``."""

import sys

from majora_lite.ops.cli import main

sys.exit(main())
