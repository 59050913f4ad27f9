"""Production-size seeding: the bodies of ``bulk_plan`` stored with bulk inserts.

Each step makes the rows the API path makes for the same body (``biosample/add``, ``library/add``,
``sequencing/add``, ``file/add`` with metadata, ``meta/metric/add``, ``meta/qc/add``), through the
API's own cleaning (biosample forms, sequencing form, metric validation, ct records) and its QC
evaluation; only the saving is batched. ``tests/test_server_bulk_seed.py`` compares a small bulk seed
with the same plan sent through the API, answer by answer.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Iterator

from django.db import models as djm
from django.db import transaction
from django.utils import timezone

from majora_lite.api import biosamples as bsmod
from majora_lite.api import dataviews, forms, metrics, qc, sequencing, tags
from majora_lite.majora2 import models
from majora_lite.ops import bulk_plan, dataview_defs, seed
from majora_lite.ops.admin import shipped_data

CHUNK = 2000  # rows per INSERT batch; PAGs per transaction


def _chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for pos in range(0, len(items), size):
        yield items[pos : pos + size]


def _insert(model: type[djm.Model], objs: list) -> None:
    """bulk_create, also for a child of a multi-table model (Django refuses those): the parent rows
    (``MajoraArtifact``) first, then the child's own columns."""
    if not objs:
        return
    parents = model._meta.get_parent_list()
    if not parents:
        model.objects.bulk_create(objs, batch_size=500)
        return
    (parent,) = parents  # every majora-lite artifact kind has exactly MajoraArtifact above it
    parent_fields = [f.attname for f in parent._meta.concrete_fields]
    parent.objects.bulk_create(
        [parent(**{name: getattr(o, name) for name in parent_fields}) for o in objs], batch_size=500
    )
    link = model._meta.get_ancestor_link(parent)
    for o in objs:
        setattr(o, link.attname, o.id)  # what Model.save() sets after saving the parent row
    fields = list(model._meta.local_concrete_fields)
    for part in _chunks(objs, 500):
        model._base_manager._insert(part, fields=fields)


def prepare() -> dict:
    """What ``seed`` sets up before any sample: QC families, dataviews, site users and agreements."""
    families = seed._qc_families()
    for code in seed.DATAVIEWS:
        dataview_defs.load(shipped_data(f"mdv/{code}"))
    users = seed._site_users()
    for code, adm1, _adm2 in seed.SITES:
        if adm1 == "UK-ENG":
            dataview_defs.sign_agreement(users[code].username, dataviews.PHE1_AGREEMENT)
    return {"families": families, "users": users}


def _raise(what: str, key: str, api_o: dict | None = None, errors=None) -> None:
    detail = errors if errors is not None else (api_o or {}).get("messages")
    raise ValueError(f"bulk seed: the API would refuse {what} {key}: {detail}")


def _samples(items: list[dict], users: dict, now: dt.datetime) -> dict[str, models.BiosampleArtifact]:
    """biosample/add (``_save_biosample``) for new samples, ct metrics included."""
    procs, arts, cts = [], [], []
    for item in items:
        body = {k: v for k, v in item.items() if k not in ("site", "metrics")}
        user = users[item["site"]]
        initial = forms.fixed_initial(user)
        supp = forms.SupplementForm(body, initial, False)
        sampling = forms.ProcessForm(body, initial, False, adding=True)
        artifact = forms.ArtifactForm(body, initial, False, lambda _anon: False)
        for form in (supp, sampling, artifact):
            if not form.is_valid():
                _raise("biosample", item["central_sample_id"], errors=form.errors)
        bs = models.BiosampleArtifact(artifact_kind="Biosample", revision=1, modified=now)
        for key, attr in bsmod.ARTIFACT_COLUMNS.items():
            if key in artifact.cleaned:
                value = artifact.cleaned[key]
                setattr(bs, attr, value if attr in bsmod.NULLABLE_COLUMNS else bsmod._text(value))
        bs.dice_name = bs.central_sample_id
        proc = models.BiosourceSamplingProcess()
        for key, attr in bsmod.PROCESS_COLUMNS.items():
            if key in sampling.cleaned:
                value = sampling.cleaned[key]
                setattr(proc, attr, value if attr in bsmod.NULLABLE_COLUMNS else bsmod._text(value))
        org = user.profile.institute
        proc.submission_org = org if org is not None and not org.code.startswith("?") else None
        proc.submission_user = user
        supplement = {}
        for key, value in supp.cleaned.items():
            if key == "is_surveillance":
                proc.is_surveillance = value
            elif key == "collection_pillar":
                proc.collection_pillar = value
            else:
                supplement[key] = value.isoformat() if isinstance(value, dt.date) else value
        proc.supplement = supplement
        bs.owner = None  # biosample/add leaves the artifact's owner unset
        procs.append(proc)
        arts.append(bs)
        ct = item.get("metrics", {}).get("ct")
        if ct:
            recs = []
            for name, rec in ct["records"].items():
                cleaned, errors = bsmod._ct_record_errors(rec)
                if errors:
                    _raise("ct record", name, errors=errors)
                recs.append({k: cleaned[k] for k in ("ct_value", "test_platform", "test_target", "test_kit")})
            values = [r["ct_value"] for r in recs]
            data = {"num_tests": len(recs), "min_ct": min(values), "max_ct": max(values), "records": recs}
            cts.append((bs, data))
    models.BiosourceSamplingProcess.objects.bulk_create(procs, batch_size=500)
    for bs, proc in zip(arts, procs, strict=True):
        bs.created = proc
    _insert(models.BiosampleArtifact, arts)
    rows = [models.TemporaryMajoraArtifactMetric(artifact_id=bs.pk, namespace="ct", data=d) for bs, d in cts]
    models.TemporaryMajoraArtifactMetric.objects.bulk_create(rows, batch_size=500)
    # What QC reads of each sample later (no query per PAG): its metrics, and no metadata.
    ct_of = {row.artifact_id: row for row in rows}
    for bs in arts:
        bs._prefetched_objects_cache = {"metrics": [ct_of[bs.pk]] if bs.pk in ct_of else [], "metadata": []}
    return {bs.central_sample_id: bs for bs in arts}


def _libraries(items: list[dict], users: dict, samples: dict) -> None:
    """library/add: the library and one pooling record per sample."""
    libs, pools = [], []
    for item in items:
        body = {k: v for k, v in item.items() if k not in ("site", "biosamples")}
        form = sequencing.LibraryForm(body)
        if not form.is_valid():
            _raise("library", item["library_name"], errors=form.errors.get_json_data())
        c = form.cleaned_data
        lib = models.LibraryArtifact(
            dice_name=c["library_name"],
            artifact_kind="Library",
            owner=users[item["site"]],
            layout_config=c.get("library_layout_config"),
            layout_read_length=c.get("library_layout_read_length"),
            layout_insert_length=c.get("library_layout_insert_length"),
            seq_kit=c.get("library_seq_kit"),
            seq_protocol=c.get("library_seq_protocol"),
        )
        libs.append(lib)
        for entry in item["biosamples"]:
            received = entry.get("sequencing_org_received_date")
            pools.append(
                models.LibraryPoolingProcess(
                    library=lib,
                    biosample=samples[entry["central_sample_id"]],
                    sequencing_org_received_date=dt.date.fromisoformat(received) if received else None,
                    **{key: entry.get(key) for key in sequencing.POOLING_FIELDS},
                )
            )
    _insert(models.LibraryArtifact, libs)
    for p in pools:
        p.library_id = p.library.pk
        p.biosample_id = p.biosample.pk
    models.LibraryPoolingProcess.objects.bulk_create(pools, batch_size=500)


def _runs(items: list[dict], users: dict, now: dt.datetime) -> None:
    """sequencing/add (``_save_run``): the run, its library record, placeholders, the bioinfo pipe."""
    runs, records, groups, procs, dummies, aprs = [], [], [], [], [], []
    for item in items:
        body = {k: v for k, v in item.items() if k != "site"}
        body = sequencing.SequencingForm.modify_preform(body)
        body["run_group"] = None  # the request's run_group (plans send none)
        form = sequencing.SequencingForm(body)
        if not form.is_valid():
            _raise("run", item["run_name"], errors=form.errors.get_json_data())
        c = form.cleaned_data
        user = users[item["site"]]
        run_name = c["run_name"]
        run = models.DNASequencingProcess(
            run_name=run_name,
            submission_user=user,
            submission_org=user.profile.institute,
            when=sequencing.try_date(run_name) or now,
            run_group=c.get("run_group") or run_name,
            **{key: c.get(key) for key in sequencing.RUN_FIELDS},
        )
        runs.append(run)
        records.append(models.DNASequencingProcessRecord(process=run, library=c["library_name"]))
        tree = f"sequencing-dummy-tree-{run_name}"
        group = models.DigitalResourceGroup(dice_name=tree, current_name=tree, physical=False)
        basecalling = models.AbstractBioinformaticsProcess(who=user, when=run.when, pipe_kind="Basecalling")
        reads = f"sequencing-dummy-reads-{run_name}"
        dummy = models.DigitalResourceArtifact(
            dice_name=reads,
            current_name=reads,
            current_kind="dummy",
            artifact_kind="Digital Resource",
            created=basecalling,
        )
        groups.append(group)
        dummies.append(dummy)
        aprs.append(models.ArtifactProcessRecord(process=basecalling, in_group=group, out_artifact=dummy))
        procs.append(basecalling)
        procs.append(
            models.AbstractBioinformaticsProcess(
                hook_name=f"bioinfo-{run_name}",
                pipe_kind="Pipeline",
                who=user,
                when=run.when,
                pipe_name=c.get("bioinfo_pipe_name"),
                pipe_version=c.get("bioinfo_pipe_version"),
            )
        )
    models.DNASequencingProcess.objects.bulk_create(runs, batch_size=500)
    models.DNASequencingProcessRecord.objects.bulk_create(records, batch_size=500)
    models.DigitalResourceGroup.objects.bulk_create(groups, batch_size=500)
    models.AbstractBioinformaticsProcess.objects.bulk_create(procs, batch_size=500)
    for d in dummies:
        d.created_id = d.created.pk
    _insert(models.DigitalResourceArtifact, dummies)
    for a in aprs:
        a.process_id, a.in_group_id, a.out_artifact_id = a.process.pk, a.in_group.pk, a.out_artifact.pk
    models.ArtifactProcessRecord.objects.bulk_create(aprs, batch_size=500)


class _Files:
    """file/add + meta/metric/add + meta/qc/add for PAGs, with the nodes, directories and pipelines
    (one per hook) made once and reused across chunks."""

    def __init__(self, users: dict, families: dict, now: dt.datetime) -> None:
        self.users, self.families, self.now = users, families, now
        self.nodes: dict[str, models.DigitalResourceNode] = {}
        self.dirs: dict[tuple, models.DigitalResourceGroup] = {}
        self.pipes: dict[str, models.AbstractBioinformaticsProcess] = {
            p.hook_name: p for p in models.AbstractBioinformaticsProcess.objects.exclude(hook_name=None)
        }

    def _node(self, code: str) -> models.DigitalResourceNode:
        if code not in self.nodes:
            self.nodes[code] = models.DigitalResourceNode.objects.get_or_create(node_name=code)[0]
        return self.nodes[code]

    def _directory(self, node, path: str, sep: str):
        """``files._directory`` when no hard-path MAG exists: the chain of named groups under the node."""
        parent = None
        for name in path.split(sep)[1:-1]:
            key = (node.pk, parent.pk if parent is not None else None, name)
            if key not in self.dirs:
                self.dirs[key] = models.DigitalResourceGroup.objects.get_or_create(
                    current_name=name, root_node=node, parent_group=parent, physical=True
                )[0]
            parent = self.dirs[key]
        return parent

    def _pipe(self, item: dict, user) -> models.AbstractBioinformaticsProcess:
        hook = item["pipe_hook"]
        if hook not in self.pipes:
            self.pipes[hook] = models.AbstractBioinformaticsProcess.objects.create(
                hook_name=hook,
                who=user,
                when=self.now,
                pipe_kind=item.get("pipe_kind") or "Pipeline",
                pipe_name=item.get("pipe_name"),
                pipe_version=item.get("pipe_version"),
            )
        return self.pipes[hook]

    def add(self, items: list[dict], samples: dict, run_days: dict) -> dict[str, int]:
        dras, aprs, pags, tagged, metas, mets, reports = [], [], [], [], [], [], []
        outcome = {"pass": 0, "fail": 0}
        through = models.PublishedArtifactGroup.tagged_artifacts.through
        for item in items:
            user = self.users[item["site"]]
            org = user.profile.institute
            bs = samples[item["bridge_artifact"]]
            group = self._directory(self._node(org.code), item["path"], item["sep"])
            pipe = self._pipe(item, user)
            dra = models.DigitalResourceArtifact(
                artifact_kind="Digital Resource",
                primary_group=group,
                primary_node=None if group is not None else self._node(org.code),
                current_name=item["current_name"],
                current_extension=item["current_fext"],
                current_path=item["path"],
                current_hash=item["current_hash"],
                current_size=int(item["current_size"]),
                current_kind=item["resource_type"],
                owner=user,
                created=pipe,
            )
            dra.dice_name = str(dra.id)
            dra.majoraartifact_ptr_id = dra.id  # its pk, so QC can read the rows cached on it below
            dras.append(dra)
            aprs.append(
                models.ArtifactProcessRecord(
                    process=pipe, in_artifact_id=bs.pk, out_artifact_id=dra.id, bridge_artifact_id=bs.pk
                )
            )
            run = item["publish_group"].split(":", 1)[1]
            pag = models.PublishedArtifactGroup(
                published_name=item["publish_group"],
                published_version=1,
                is_latest=True,
                owner=user,
                owner_org=org,
                # file/add dates a new PAG on the day it is made: here the day its run was published.
                published_date=run_days.get(run, self.now.date()),
            )
            pags.append(pag)
            tagged += [
                through(publishedartifactgroup_id=pag.id, majoraartifact_id=a) for a in (dra.id, bs.pk)
            ]
            dra_metas = []
            for tag, names in item.get("metadata", {}).items():
                for name, value in names.items():
                    tag_s, _e1 = tags._meta_text(tag, 64, True)
                    name_s, _e2 = tags._meta_text(name, 64, True)
                    value_s, _e3 = tags._meta_text(value, 128, False)
                    dra_metas.append(
                        models.MajoraMetaRecord(
                            artifact_id=dra.id,
                            meta_tag=tag_s,
                            meta_name=name_s,
                            value=value_s,
                            restricted=tag_s in tags.RESTRICTED_METADATA,
                        )
                    )
            dra_mets = []
            for namespace, body in item.get("metrics", {}).items():
                data, errors = metrics.validate(namespace, body)
                if errors:
                    _raise("metrics", f"{namespace} of {item['path']}", errors=errors)
                dra_mets.append(
                    models.TemporaryMajoraArtifactMetric(artifact_id=dra.id, namespace=namespace, data=data)
                )
            metas += dra_metas
            mets += dra_mets
            # QC reads the rows this PAG will have (cached on the objects: no query per PAG).
            dra._prefetched_objects_cache = {"metrics": dra_mets, "metadata": dra_metas}
            pag._qc_artifacts = [bs, dra]
        _insert(models.DigitalResourceArtifact, dras)
        models.ArtifactProcessRecord.objects.bulk_create(aprs, batch_size=500)
        models.PublishedArtifactGroup.objects.bulk_create(pags, batch_size=500)
        through.objects.bulk_create(tagged, batch_size=500)
        models.MajoraMetaRecord.objects.bulk_create(metas, batch_size=500)
        models.TemporaryMajoraArtifactMetric.objects.bulk_create(mets, batch_size=500)
        # meta/qc/add after the metrics are stored (QC orders a PAG's metrics by their row ids).
        for item, pag in zip(items, pags, strict=True):
            for family, tests in self.families.items():
                api_o: dict = {"errors": 0, "warnings": 0, "messages": [], "ignored": []}
                results = qc.evaluate(pag, family, api_o, tests)
                if results is None:
                    _raise("meta/qc/add of", item["publish_group"], api_o)
                is_pass = all(r["is_pass"] for r in results.values() if not r["is_skip"])
                reports.append(
                    models.PAGQualityReport(
                        pag_id=pag.pk,
                        test_name=family.slug,
                        is_pass=is_pass,
                        test_version="1",
                        last_updated=self.now,
                    )
                )
                if family.slug == seed.QC_TEST:
                    outcome["pass" if is_pass else "fail"] += 1
        models.PAGQualityReport.objects.bulk_create(reports, batch_size=500)
        return outcome


def _existing(ids: Iterable[str]) -> bool:
    return models.BiosampleArtifact.objects.filter(central_sample_id__in=list(ids)[:1]).exists()


def bulk_seed(
    biosamples: int,
    pags: int,
    *,
    orphan_pags: int = 0,
    seed_value: int = 1,
    anchor: dt.date | None = None,
    prefix: str = "",
) -> dict:
    """Store ``bulk_plan.plan(...)``; returns a JSON-able summary with the time each step took."""
    started = time.monotonic()
    the_plan = bulk_plan.plan(
        biosamples, pags, orphan_pags=orphan_pags, seed_value=seed_value, anchor=anchor, prefix=prefix
    )
    timings: dict[str, float] = {"plan": round(time.monotonic() - started, 2)}
    now = timezone.now()
    with transaction.atomic():
        prep = prepare()
    users, families = prep["users"], prep["families"]
    if the_plan.samples and _existing(s["central_sample_id"] for s in the_plan.samples):
        raise ValueError("bulk seed: this server already holds the plan's samples (use another --prefix)")
    step = time.monotonic()
    samples: dict[str, models.BiosampleArtifact] = {}
    for part in _chunks(the_plan.samples):
        with transaction.atomic():
            samples.update(_samples(part, users, now))
    timings["biosamples"] = round(time.monotonic() - step, 2)
    step = time.monotonic()
    with transaction.atomic():
        _libraries(the_plan.libraries, users, samples)
        _runs(the_plan.runs, users, now)
    timings["libraries_runs"] = round(time.monotonic() - step, 2)
    step = time.monotonic()
    files = _Files(users, families, now)
    outcome = {"pass": 0, "fail": 0}
    for part in _chunks(the_plan.files):
        with transaction.atomic():
            got = files.add(part, samples, the_plan.run_days)
        outcome = {k: outcome[k] + got[k] for k in outcome}
    timings["pags"] = round(time.monotonic() - step, 2)
    timings["total"] = round(time.monotonic() - started, 2)
    return {
        "biosamples": len(the_plan.samples),
        "libraries": len(the_plan.libraries),
        "runs": len(the_plan.runs),
        "pags": {seed.QC_TEST: outcome},
        "orphan_pags": orphan_pags,
        "orphan_run": bulk_plan.ORPHAN_RUN if orphan_pags else None,
        "qc_tests": [f.slug for f in families],
        "anchor": the_plan.anchor.strftime("%Y-%m-%d"),
        "example": {
            "central_sample_id": the_plan.samples[0]["central_sample_id"] if the_plan.samples else None,
            "run_name": the_plan.runs[0]["run_name"] if the_plan.runs else None,
        },
        "seconds": timings,
    }
