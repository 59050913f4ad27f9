"""snakemake-majora: Majora for Snakemake pipelines (storage plugin, shared credentials, majora-lite)."""

__version__ = "0.1.0"
