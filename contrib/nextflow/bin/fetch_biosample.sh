#!/usr/bin/env bash
# Fetch one Majora biosample record into <central_sample_id>.json (Nextflow puts bin/ on PATH).
# Exit codes are snakemake-majora's (sysexits): 66 not found, 69 server, 75 temporary, 77 re-login.
set -euo pipefail
id=$1
snakemake-majora get biosample --quiet --output "$id.json" "$id"
