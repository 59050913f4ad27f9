"""The production-size data set as the API bodies a COG-UK site would send (no Django here).

``bulk_seed`` stores these bodies with bulk inserts; the equivalence test sends a small plan through the
API, so both paths start from the same requests. Per site, samples are sequenced 96 to a run (one
library per run); runs are spread over the ``days`` before the anchor so that a day holds a realistic
share of the PAGs (Majora's ``published_after`` windows then select a day's worth, not everything).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from dataclasses import dataclass, field

#: Site code, adm1, adm2 (the site's users are ``<code>-bot``, as in ``seed``).
SITES = [
    ("BIRM", "UK-ENG", "BIRMINGHAM"),
    ("CAMB", "UK-ENG", "CAMBRIDGESHIRE"),
    ("EDIN", "UK-SCT", "EDINBURGH"),
    ("LOND", "UK-ENG", "GREATER LONDON"),
    ("NORW", "UK-ENG", "NORFOLK"),
    ("CWAR", "UK-WLS", "CARDIFF"),
]
RUN_SIZE = 96
PIPELINE = {"pipe_kind": "Pipeline", "pipe_name": "ARTIC", "pipe_version": "1.3.0"}
#: The run name every orphan PAG names: no ``sequencing/add`` ever registers it.
ORPHAN_RUN = "ORPHAN-UNREGISTERED-RUN"


@dataclass
class Plan:
    """API bodies in the order a site sends them; every body carries ``site`` (who sends it)."""

    anchor: dt.date
    samples: list[dict] = field(default_factory=list)  # biosample/add entries
    libraries: list[dict] = field(default_factory=list)  # library/add bodies
    runs: list[dict] = field(default_factory=list)  # sequencing/add bodies
    files: list[dict] = field(default_factory=list)  # file/add bodies + "metrics" (meta/metric/add)
    run_days: dict[str, dt.date] = field(default_factory=dict)  # run name -> the day it was published


def _day(d: dt.date) -> str:
    return d.strftime("%Y-%m-%d")


def _sample(
    csid: str, site: tuple, i: int, collected: dt.date, received: dt.date, rng: random.Random
) -> dict:
    code, adm1, adm2 = site
    ct = round(rng.uniform(14, 34), 1)
    return {
        "site": code,
        "central_sample_id": csid,
        "collection_date": _day(collected),
        "received_date": _day(received),
        "adm1": adm1,
        "adm2": adm2,
        "adm2_private": f"{code[:2]}{rng.randint(1, 30)}",
        "source_age": rng.randint(1, 95),
        "source_sex": rng.choice(["F", "M"]),
        "sample_type_collected": rng.choice(["swab", "dry swab", "aspirate"]),
        "sample_site": rng.choice(["nose-throat", "nose", "throat"]),
        "is_surveillance": rng.choice(["Y", "N"]),
        "collection_pillar": rng.choice([1, 2]),
        "root_sample_id": f"R{rng.randint(10**7, 10**8 - 1)}",
        "sender_sample_id": f"S{i:08d}",
        "metrics": {
            "ct": {
                "records": {
                    "1": {
                        "ct_value": ct,
                        "test_platform": "INHOUSE",
                        "test_target": "S",
                        "test_kit": "INHOUSE",
                    }
                }
            }
        },
    }


def consensus_metrics(rng: random.Random, good: bool, masked: float) -> dict:
    """The `sequence` and `mapping` metrics of a seeded consensus (a good one or a failing one); the seed
    and the bulk plan share them, drawing from ``rng`` in the same order."""
    return {
        "sequence": {
            "num_seqs": 1,
            "num_bases": 29903,
            "pc_acgt": round(100 - masked, 2),
            "pc_masked": masked,
            "pc_invalid": 0.0,
            "longest_gap": rng.randint(0, 400) if good else rng.randint(5000, 20000),
            "longest_ungap": rng.randint(20000, 29903) if good else rng.randint(500, 9000),
        },
        "mapping": {
            "num_pos": 29903,
            "mean_cov": round(rng.uniform(200, 2000), 1) if good else round(rng.uniform(1, 9), 1),
            "pc_pos_cov_gte10": round(rng.uniform(95, 100), 2) if good else round(rng.uniform(5, 45), 2),
            "pc_pos_cov_gte20": round(rng.uniform(93, 100), 2) if good else round(rng.uniform(2, 40), 2),
        },
    }


def _file(sample: dict, run_name: str, rng: random.Random) -> dict:
    code, csid = sample["site"], sample["central_sample_id"]
    pname = f"COG-UK/{csid}/{code}:{run_name}"
    good = rng.random() < 0.85
    masked = round(rng.uniform(0.1, 5), 2) if good else round(rng.uniform(51, 90), 2)
    return {
        "site": code,
        "path": f"/cephfs/covid/{code.lower()}/{run_name}/{csid}.fasta",
        "sep": "/",
        "current_name": f"{csid}.fasta",
        "current_fext": "fasta",
        "current_hash": hashlib.md5(pname.encode(), usedforsecurity=False).hexdigest(),
        "current_size": 29903 - rng.randint(0, 200),
        "resource_type": "consensus",
        "source_artifact": [csid],
        "bridge_artifact": csid,
        "pipe_hook": f"elan-{run_name}",
        **PIPELINE,
        "publish_group": pname,
        "metadata": {"sequencing": {"platform": "ILLUMINA"}},
        "metrics": consensus_metrics(rng, good, masked),
    }


def plan(
    biosamples: int,
    pags: int,
    *,
    orphan_pags: int = 0,
    seed_value: int = 1,
    anchor: dt.date | None = None,
    days: int = 300,
    prefix: str = "",
) -> Plan:
    """``biosamples`` samples; the first ``pags`` are published (consensus, metrics, QC) and all but the
    last ``orphan_pags`` of those are sequenced first (library + run); the orphans are published under
    a run Majora never heard of, as a file published without ``put library``/``put sequencing``.

    ``prefix`` makes the IDs of a second plan on the same server distinct (``BIRM-<prefix>00001``).
    """
    if not 0 <= orphan_pags <= pags <= biosamples:
        raise ValueError("need 0 <= orphan_pags <= pags <= biosamples")
    rng = random.Random(seed_value)
    anchor = anchor or dt.date.today()
    out = Plan(anchor=anchor)
    sequenced = pags - orphan_pags
    runs_total = max(1, -(-sequenced // RUN_SIZE))
    by_site: dict[str, list[dict]] = {code: [] for code, _a, _b in SITES}
    for i in range(1, biosamples + 1):
        site = SITES[(i - 1) % len(SITES)]
        # The sample's run slot decides its dates, so a run's samples were collected before the run.
        slot = min((i - 1) // RUN_SIZE, runs_total - 1)
        run_day = anchor - dt.timedelta(days=(runs_total - 1 - slot) * days // runs_total)
        collected = run_day - dt.timedelta(days=rng.randint(2, 10))
        received = collected + dt.timedelta(days=rng.randint(0, 2))
        sample = _sample(f"{site[0]}-{prefix}{i:06d}", site, i, collected, received, rng)
        out.samples.append(sample)
        if i <= sequenced:
            by_site[site[0]].append((sample, run_day))
        elif i <= pags:
            out.run_days.setdefault(ORPHAN_RUN, anchor)
            out.files.append(_file(sample, ORPHAN_RUN, rng))
    n = 0
    for code, members in by_site.items():
        for pos in range(0, len(members), RUN_SIZE):
            batch = members[pos : pos + RUN_SIZE]
            n += 1
            run_day = max(day for _s, day in batch)
            run_name = f"{run_day:%y%m%d}_{code}_{prefix}{seed_value:02d}{n:05d}"
            library = f"{code}-LIB-{prefix}{seed_value:02d}{n:05d}"
            out.run_days[run_name] = run_day
            out.libraries.append(
                {
                    "site": code,
                    "library_name": library,
                    "library_layout_config": "PAIRED",
                    "library_layout_read_length": 150,
                    "library_seq_kit": "ARTIC",
                    "library_seq_protocol": "ARTIC_V4",
                    "biosamples": [
                        {
                            "central_sample_id": s["central_sample_id"],
                            "library_source": "VIRAL_RNA",
                            "library_selection": "PCR",
                            "library_strategy": "AMPLICON",
                            "library_protocol": "ARTIC",
                            "library_primers": "4",
                            "sequencing_org_received_date": s["received_date"],
                        }
                        for s, _d in batch
                    ],
                }
            )
            out.runs.append(
                {
                    "site": code,
                    "library_name": library,
                    "run_name": run_name,
                    "instrument_make": "ILLUMINA",
                    "instrument_model": "MiSeq",
                    "flowcell_type": "v3",
                    "flowcell_id": f"FC{prefix}{n:06d}",
                    # The day before the run day, so a run of today never ends in the future.
                    "start_time": f"{run_day - dt.timedelta(days=1):%Y-%m-%d} 09:00",
                    "end_time": f"{run_day - dt.timedelta(days=1):%Y-%m-%d} 21:00",
                    "bioinfo_pipe_name": "ARTIC",
                    "bioinfo_pipe_version": "1.3.0",
                }
            )
            out.files.extend(_file(s, run_name, rng) for s, _d in batch)
    return out
