"""Discovery shim: Snakemake finds storage plugins by this package name.

Importing this module must never raise or touch the network: Snakemake imports every
installed storage plugin on every invocation, so a failure here would break them all.
"""
