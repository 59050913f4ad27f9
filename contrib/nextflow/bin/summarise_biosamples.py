#!/usr/bin/env python3
"""One TSV row per fetched biosample record (the files `snakemake-majora get biosample -o` writes)."""

import csv
import json
import sys

FIELDS = ["central_sample_id", "adm1", "adm2", "collection_date", "received_date", "submission_org_code"]

writer = csv.writer(sys.stdout, delimiter="\t", lineterminator="\n")
writer.writerow(FIELDS)
for path in sorted(sys.argv[1:]):
    with open(path, encoding="utf-8") as fh:
        for record in json.load(fh).values():
            writer.writerow([record.get(f) or "" for f in FIELDS])
