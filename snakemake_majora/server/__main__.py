"""``python -m snakemake_majora.server``."""

import sys

from snakemake_majora.server.cli import main

sys.exit(main())
