"""Deterministic synthetic COG-UK-like data for majora-lite."""

from __future__ import annotations

import datetime as dt
import hashlib
import random

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from majora_lite.api import biosamples as bsmod
from majora_lite.api import dataviews, files, metrics, qc, tags
from majora_lite.majora2 import models
from majora_lite.ops import dataview_defs, qc_defs
from majora_lite.ops.admin import get_org, shipped_data
from majora_lite.ops.bulk_plan import consensus_metrics

SITES = [
    ("BIRM", "UK-ENG", "BIRMINGHAM"),
    ("CAMB", "UK-ENG", "CAMBRIDGESHIRE"),
    ("EDIN", "UK-SCT", "EDINBURGH"),
    ("LOND", "UK-ENG", "GREATER LONDON"),
    ("NORW", "UK-ENG", "NORFOLK"),
    ("CWAR", "UK-WLS", "CARDIFF"),
]
QC_TESTS = ["cog-uk-elan-minimal-qc", "cog-uk-high-quality-public"]
#: Majora's dataviews, loaded from the definitions shipped in ``server/data/mdv``.
DATAVIEWS = ("DA1", "PHE1", "PHE1-FAST")
QC_TEST = QC_TESTS[0]


def _site_users() -> dict[str, User]:
    users = {}
    for code, _adm1, _adm2 in SITES:
        user, _ = User.objects.get_or_create(username=f"{code.lower()}-bot", defaults={"is_active": True})
        models.Profile.objects.update_or_create(user=user, defaults={"institute": get_org(code)})
        users[code] = user
    return users


def _qc_families() -> dict[models.QCTestGroup, list]:
    """The QC families the seed evaluates; Majora's 2020 definitions are loaded when none are.

    The seed loads the first published versions (elan-minimal v2, high-quality) rather than the
    2022 elan-minimal test versions, whose zero threshold passes every PAG: seeded data should
    have failing PAGs under cog-uk-elan-minimal-qc as well. A server loaded with other
    definitions (``load-qc``) is evaluated with those.
    """
    if not models.QCTestGroup.objects.filter(slug__in=QC_TESTS).exists():
        shipped = qc_defs.shipped_qc_files()
        qc_defs.load_qc([p for p in shipped if p.parent.name in ("elan-minimal", "high-quality")])
    # Each family with its test definitions, read once for every PAG the seed evaluates.
    return {
        f: qc.family_tests(f) for f in models.QCTestGroup.objects.filter(slug__in=QC_TESTS).order_by("slug")
    }


def _publish_consensus(
    bs, code: str, run_name: str, run_day: dt.date, user, rng: random.Random, families
) -> tuple:
    """File a consensus into its PAG through file/add's code path, add its metrics, run QC.

    Returns (pag, passed cog-uk-elan-minimal-qc).
    """
    api_o: dict = {"errors": 0, "warnings": 0, "messages": [], "new": [], "updated": [], "ignored": []}
    pname = f"COG-UK/{bs.central_sample_id}/{code}:{run_name}"
    node, _ = files.make_node(code)
    cleaned = {
        "node_name": node,
        "path": f"/cephfs/covid/bham/{code}/{run_name}/{bs.central_sample_id}.fasta",
        "sep": "/",
        "current_name": f"{bs.central_sample_id}.fasta",
        "current_fext": "fasta",
        "current_hash": hashlib.md5(pname.encode(), usedforsecurity=False).hexdigest(),
        "current_size": 29903 + rng.randint(-200, 0),
        "resource_type": "consensus",
        "artifact_uuid": None,
        "source_artifact": [bs],
        "source_group": [],
        "bridge_artifact": bs,
        "pipe_hook": f"elan-{run_name}",
        "pipe_kind": "Pipeline",
        "pipe_name": "ARTIC",
        "pipe_version": "1.3.0",
        "publish_group": pname,
    }
    fasta = files.save_file(cleaned, user, api_o)
    tags.set_metadata(fasta, {"sequencing": {"platform": "ILLUMINA"}}, api_o)
    good = rng.random() < 0.85
    masked = round(rng.uniform(0.1, 5), 2) if good else round(rng.uniform(51, 90), 2)
    metrics.add_artifact_metrics(fasta, consensus_metrics(rng, good, masked), api_o)
    pag = models.PublishedArtifactGroup.objects.get(published_name=pname, is_latest=True)
    passed = None
    for family in families:
        results = qc.record_qc(pag, family, api_o, tests=families[family])
        if family.slug == QC_TEST and results is not None:
            passed = all(r["is_pass"] for r in results.values() if not r["is_skip"])
    if api_o["errors"]:
        raise RuntimeError(f"seed could not publish {pname}: {api_o['messages']}")
    pag.published_date = run_day
    pag.is_public = bool(passed) and rng.random() < 0.5
    pag.public_timestamp = timezone.now() if pag.is_public else None
    pag.save(update_fields=["published_date", "is_public", "public_timestamp"])
    return pag, bool(passed)


def seed(biosamples: int = 200, seed_value: int = 1, anchor: dt.date | None = None) -> dict:
    """Create ``biosamples`` samples with libraries, runs, PAGs and QC; returns a JSON-able summary."""
    rng = random.Random(seed_value)
    anchor = anchor or timezone.now().date()
    with transaction.atomic():
        families = _qc_families()
        for code in DATAVIEWS:
            dataview_defs.load(shipped_data(f"mdv/{code}"))
        users = _site_users()
        # The English sites signed the agreement PHE1 selects on, so PHE1 (and PHE1-FAST) have rows.
        for code, adm1, _adm2 in SITES:
            if adm1 == "UK-ENG":
                dataview_defs.sign_agreement(users[code].username, dataviews.PHE1_AGREEMENT)
        per_site: dict[str, list[models.BiosampleArtifact]] = {code: [] for code, _a, _b in SITES}
        made = 0
        for i in range(1, biosamples + 1):
            code, adm1, adm2 = SITES[(i - 1) % len(SITES)]
            csid = f"{code}-{i:05d}"
            if models.BiosampleArtifact.objects.filter(central_sample_id=csid).exists():
                continue
            collected = anchor - dt.timedelta(days=rng.randint(3, 42))
            received = collected + dt.timedelta(days=rng.randint(0, 3))
            received = min(received, anchor)
            proc = models.BiosourceSamplingProcess.objects.create(
                collection_date=collected,
                received_date=received,
                submission_user=users[code],
                submission_org=get_org(code),
                source_sex=rng.choice(["F", "M", ""]),
                source_age=rng.choice([None, rng.randint(1, 95)]),
                collection_location_country="United Kingdom",
                collection_location_adm1=adm1,
                collection_location_adm2=adm2,
                private_collection_location_adm2=f"{code[:2]}{rng.randint(1, 30)}",
                is_surveillance=rng.random() < 0.7,
                collection_pillar=rng.choice([1, 2]),
            )
            source = models.BiosampleSource.objects.create(dice_name=f"SRC{seed_value:02d}{i:07d}")
            bs = models.BiosampleArtifact.objects.create(
                dice_name=csid,
                artifact_kind="Biosample",
                central_sample_id=csid,
                owner=users[code],
                root_sample_id=f"R{rng.randint(10**7, 10**8 - 1)}",
                sender_sample_id=f"S{i:07d}",
                sample_type_collected=rng.choice(["swab", "dry swab", "aspirate"]),
                sample_type_received="primary",
                swab_site=rng.choice(["nose-throat", "nose", "throat"]),
                primary_group=source,
                created=proc,
                revision=1,
                modified=timezone.now(),
            )
            ct1 = round(rng.uniform(14, 34), 1)
            ct2 = round(ct1 + rng.uniform(-1.5, 1.5), 1)
            models.TemporaryMajoraArtifactMetric.objects.create(
                artifact=bs,
                namespace="ct",
                data={
                    "num_tests": 2,
                    "min_ct": min(ct1, ct2),
                    "max_ct": max(ct1, ct2),
                    "records": [
                        {
                            "ct_value": ct1,
                            "test_platform": "INHOUSE",
                            "test_target": "S",
                            "test_kit": "INHOUSE",
                        },
                        {
                            "ct_value": ct2,
                            "test_platform": "INHOUSE",
                            "test_target": "E",
                            "test_kit": "INHOUSE",
                        },
                    ],
                },
            )
            models.MajoraMetaRecord.objects.create(
                artifact=bs, meta_tag="epi", meta_name="cluster", value=f"C{rng.randint(1, 12)}"
            )
            per_site[code].append(bs)
            made += 1

        # Identifiers sent without metadata (addempty), one per 50 samples: the orphans DA1 lists.
        orphans = 0
        for k in range(1, max(1, biosamples // 50) + 1):
            code = SITES[(k - 1) % len(SITES)][0]
            orphans += bsmod.new_empty_biosample(f"{code}-E{seed_value:02d}{k:03d}")[1]
        runs = libraries = 0
        qc = {"pass": 0, "fail": 0}
        for code, samples in per_site.items():
            pos = 0
            while pos < len(samples):
                size = rng.randint(24, 96)
                batch = samples[pos : pos + size]
                pos += size
                runs += 1
                libraries += 1
                run_day = max(b.created.received_date for b in batch) + dt.timedelta(days=1)
                run_day = min(run_day, anchor)
                run_name = f"{run_day:%y%m%d}_{code}_{seed_value:02d}{runs:04d}"
                lib = models.LibraryArtifact.objects.create(
                    dice_name=f"{code}-LIB-{seed_value:02d}{runs:04d}",
                    artifact_kind="Library",
                    owner=users[code],
                    layout_config="PAIRED",
                    layout_read_length=150,
                    seq_kit="ARTIC",
                    seq_protocol="ARTIC_V4",
                )
                run = models.DNASequencingProcess.objects.create(
                    run_name=run_name,
                    run_group=run_name,
                    when=dt.datetime.combine(run_day, dt.time(0), tzinfo=dt.UTC),
                    instrument_make="ILLUMINA",
                    instrument_model="MiSeq",
                    flowcell_type="v3",
                    flowcell_id=f"FC{runs:05d}",
                    submission_user=users[code],
                    submission_org=get_org(code),
                    start_time=dt.datetime.combine(run_day, dt.time(9), tzinfo=dt.UTC),
                    end_time=dt.datetime.combine(run_day, dt.time(21), tzinfo=dt.UTC),
                )
                models.DNASequencingProcessRecord.objects.create(process=run, library=lib)
                for bs in batch:
                    models.LibraryPoolingProcess.objects.create(
                        library=lib,
                        biosample=bs,
                        library_source="VIRAL_RNA",
                        library_selection="PCR",
                        library_strategy="AMPLICON",
                        library_protocol="ARTIC",
                        library_primers="4",
                        sequencing_org_received_date=bs.created.received_date,
                    )
                    pag, is_pass = _publish_consensus(bs, code, run_name, run_day, users[code], rng, families)
                    if pag.is_public:
                        now = timezone.now()
                        models.TemporaryAccessionRecord.objects.create(
                            pag=pag,
                            service="ENA-ASSEMBLY",
                            primary_accession=f"ERZ{rng.randint(10**6, 10**7)}",
                            requested_by=users[code],
                            requested_timestamp=now,
                            is_public=True,
                            public_timestamp=now,
                        )
                    qc["pass" if is_pass else "fail"] += 1

    first = models.BiosampleArtifact.objects.order_by("central_sample_id").first()
    run = models.DNASequencingProcess.objects.order_by("run_name").first()
    return {
        "biosamples": made,
        "orphans": orphans,
        "biosamples_total": models.BiosampleArtifact.objects.count(),
        "libraries": libraries,
        "runs": runs,
        "pags": {QC_TEST: qc},
        "dataviews": sorted(DATAVIEWS),
        "qc_tests": QC_TESTS,
        "organisations": [code for code, _a, _b in SITES],
        "anchor": anchor.strftime("%Y-%m-%d"),
        "example": {
            "central_sample_id": first.central_sample_id if first else None,
            "run_name": run.run_name if run else None,
        },
    }
