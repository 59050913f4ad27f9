"""Majora's library and sequencing endpoints: library/add, sequencing/add, sequencing/get and get2.

The rules are Majora's (``api_views``, ``forms``, ``form_handlers``, ``tasks`` at c54b9ee): the three forms
and their messages, the placeholder objects a new run brings (a digital resource group, dummy reads and a
bioinformatics pipeline), ``run_group`` defaulting to the run name, one run holding several libraries, and
``run_name: ["*"]`` answered by a task whose result is Majora's (``get``: full structs; ``get2``: the
"faster" shape with the biosamples of a library keyed by ``central_sample_id``).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django import forms
from django.db import transaction
from django.forms.fields import BaseTemporalField
from django.forms.utils import from_current_timezone
from django.http import HttpResponseBadRequest
from django.utils import timezone

from majora_lite.api import biosamples as bsmod
from majora_lite.api import structs, tags, tasks
from majora_lite.api.envelope import TASK_MESSAGE, format_tuple, missing, v2
from majora_lite.api.sequencing_tasks import lookup_runs
from majora_lite.majora2 import models

# ---------------------------------------------------------------- forms (Majora's field rules)

# Majora's choices start with (None, ""): the empty value is "required", and (as Django compares
# str(key)) the text "None" is itself accepted.
LAYOUT_CHOICES = [(None, ""), ("SINGLE", "SINGLE"), ("PAIRED", "PAIRED")]
STRATEGY_CHOICES = [(None, ""), *((c, c) for c in ("WGS", "WGA", "AMPLICON", "TARGETED_CAPTURE", "OTHER"))]
SOURCE_CHOICES = [
    (None, ""),
    *(
        (c, c)
        for c in ("GENOMIC", "TRANSCRIPTOMIC", "METAGENOMIC", "METATRANSCRIPTOMIC", "VIRAL_RNA", "OTHER")
    ),
]
SELECTION_CHOICES = [(None, ""), *((c, c) for c in ("RANDOM", "PCR", "RANDOM_PCR", "OTHER"))]
INSTRUMENT_CHOICES = [(None, ""), *((c, c) for c in ("ILLUMINA", "OXFORD_NANOPORE", "ION_TORRENT"))]
RUN_TIME_INPUT = "%Y-%m-%d %H:%M"
RESERVED_RUN_CHARACTERS = [".", "/", "\\"]


class RunTimeField(forms.DateTimeField):
    """A date-time in exactly its ``input_formats``.

    Django >= 3.1 also accepts ISO 8601 here (``2024-01-02T09:00:00``); Majora's Django 2.2 did not, and
    refuses it with "Enter a valid date/time.".
    """

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, dt.datetime):
            return from_current_timezone(value)
        return from_current_timezone(BaseTemporalField.to_python(self, value))


class LibraryForm(forms.Form):
    """Majora's ``TestLibraryForm``."""

    library_name = forms.CharField(max_length=96, min_length=5)
    library_layout_config = forms.ChoiceField(choices=LAYOUT_CHOICES)
    library_layout_read_length = forms.IntegerField(min_value=0, required=False)
    library_layout_insert_length = forms.IntegerField(min_value=0, required=False)
    library_seq_kit = forms.CharField(max_length=96)
    library_seq_protocol = forms.CharField(max_length=96)


class LibraryBiosampleForm(forms.Form):
    """Majora's ``TestLibraryBiosampleForm`` (one biosample's pooling record in a library)."""

    central_sample_id = forms.ModelChoiceField(
        queryset=models.BiosampleArtifact.objects.all(), to_field_name="dice_name"
    )
    library_name = forms.ModelChoiceField(
        queryset=models.LibraryArtifact.objects.all(), to_field_name="dice_name"
    )
    barcode = forms.CharField(max_length=24, required=False)
    library_strategy = forms.ChoiceField(choices=STRATEGY_CHOICES)
    library_source = forms.ChoiceField(choices=SOURCE_CHOICES)
    library_selection = forms.ChoiceField(choices=SELECTION_CHOICES)
    library_primers = forms.CharField(max_length=48, required=False)
    library_protocol = forms.CharField(max_length=48, required=False)
    sequencing_org_received_date = forms.DateField(required=False)


class SequencingForm(forms.Form):
    """Majora's ``TestSequencingForm`` (one run)."""

    library_name = forms.ModelChoiceField(
        queryset=models.LibraryArtifact.objects.all(), to_field_name="dice_name"
    )
    sequencing_id = forms.UUIDField(required=False)
    run_name = forms.CharField(max_length=128, required=False, min_length=5)
    run_group = forms.CharField(max_length=128, required=False)
    instrument_make = forms.ChoiceField(choices=INSTRUMENT_CHOICES)
    instrument_model = forms.CharField()
    flowcell_type = forms.CharField(max_length=48, required=False)
    flowcell_id = forms.CharField(max_length=48, required=False)
    start_time = RunTimeField(input_formats=[RUN_TIME_INPUT], required=False)
    end_time = RunTimeField(input_formats=[RUN_TIME_INPUT], required=False)
    bioinfo_pipe_name = forms.CharField(max_length=96, required=False)
    bioinfo_pipe_version = forms.CharField(max_length=48, required=False)

    @staticmethod
    def modify_preform(data: dict) -> dict:
        """Majora normalises ``instrument_make`` before validating: upper case, spaces to underscores."""
        if data.get("instrument_make"):
            data["instrument_make"] = data["instrument_make"].upper().strip().replace(" ", "_")
        return data

    def clean(self):
        cleaned = super().clean()
        run_name = cleaned.get("run_name")  # None when missing or refused by the field (too short)
        if not cleaned.get("sequencing_id") and not run_name:
            self.add_error("run_name", "If you don't provide a sequencing_id, you must provide a run_name")
        if run_name and any(ch in run_name for ch in RESERVED_RUN_CHARACTERS):
            self.add_error(
                "run_name", f"run_name cannot contain a reserved character: {RESERVED_RUN_CHARACTERS}"
            )
        now = timezone.now()
        if cleaned.get("start_time") and cleaned["start_time"] > now:
            self.add_error("start_time", "Sequencing run cannot start in the future")
        if cleaned.get("end_time") and cleaned["end_time"] > now:
            self.add_error("end_time", "Sequencing run cannot end in the future")
        return cleaned


# ---------------------------------------------------------------- library/add

LIBRARY_OAUTH = (
    "majora2.add_biosampleartifact majora2.change_biosampleartifact majora2.add_libraryartifact "
    "majora2.change_libraryartifact majora2.add_librarypoolingprocess majora2.change_librarypoolingprocess"
)
MISSING_SAMPLES = (
    "At least one Biosample in your Library was not registered. No samples have been added to this Library. "
    "Register the missing samples, or remove them from your request and try again."
)
POOLING_FIELDS = (
    "library_source",
    "library_selection",
    "library_strategy",
    "library_protocol",
    "library_primers",
)
FORCED_SAMPLES = (
    "You forced the creation of at least one Biosample. This sample will be ignored by CLIMB pipelines "
    "and reports until its metadata has been registered."
)


def _save_library(cleaned: dict, user, api_o: dict) -> models.LibraryArtifact:
    """Majora's ``handle_testlibrary``: create, or update only when an attribute changed."""
    name = cleaned["library_name"]
    lib = models.LibraryArtifact.objects.filter(dice_name=name).first()
    created = lib is None
    if created:
        lib = models.LibraryArtifact(dice_name=name, artifact_kind="Library", owner=user)
    before = structs.library_struct(lib, deep=False) if not created else None
    lib.layout_config = cleaned.get("library_layout_config")
    lib.layout_read_length = cleaned.get("library_layout_read_length")
    lib.layout_insert_length = cleaned.get("library_layout_insert_length")
    lib.seq_kit = cleaned.get("library_seq_kit")
    lib.seq_protocol = cleaned.get("library_seq_protocol")
    if created:
        lib.save()
        api_o["new"].append(format_tuple(lib))
    elif before != structs.library_struct(lib, deep=False):
        lib.save()
        api_o["updated"].append(format_tuple(lib))
    return lib


def _check_samples(biosamples: list, force: bool, api_o: dict) -> bool:
    """Every biosample must exist (or becomes a stub with ``force_biosamples``); False if one is missing."""
    missing = forced = False
    for item in biosamples:
        sample_id = item.get("central_sample_id")  # a non-dict item raises, as in Majora (500)
        if force:
            bs, created = bsmod.new_empty_biosample(sample_id)
            if created:
                api_o["new"].append(format_tuple(bs))
                api_o["warnings"] += 1
                forced = True
        elif models.BiosampleArtifact.objects.filter(central_sample_id=sample_id).count() != 1:
            api_o["ignored"].append(sample_id)
            api_o["errors"] += 1
            missing = True
    if missing:
        api_o["messages"].append(MISSING_SAMPLES)
        return False
    if forced:
        api_o["messages"].append(FORCED_SAMPLES)
    return True


def _pool_sample(item: dict, library_name: Any, api_o: dict) -> None:
    """Majora's ``TestLibraryBiosampleForm`` + ``handle_testlibraryrecord`` for one biosample."""
    data = dict(item)
    data["library_name"] = library_name
    form = LibraryBiosampleForm(data)
    if not form.is_valid():
        api_o["errors"] += 1
        api_o["ignored"].append({})  # Majora lists the form's (empty) initial data here
        api_o["messages"].append(form.errors.get_json_data())
        return
    c = form.cleaned_data
    bs, lib = c["central_sample_id"], c["library_name"]
    rec, created = models.LibraryPoolingProcess.objects.get_or_create(library=lib, biosample=bs)
    # Majora validates ``barcode`` but does not store it (the record's barcode stays null).
    for key in POOLING_FIELDS:
        setattr(rec, key, c.get(key))
    rec.sequencing_org_received_date = c.get("sequencing_org_received_date")
    rec.save()
    if created:
        api_o["updated"].append(format_tuple(bs))


@v2(oauth_permission=LIBRARY_OAUTH)
def add_library(request, api_o, json_data, user=None, partial=False):
    library_name = json_data.get("library_name")
    if not library_name:
        return missing(api_o, "library_name")
    biosamples = json_data.get("biosamples", [])
    if not biosamples:
        return missing(api_o, "biosamples")
    if not isinstance(biosamples, list):
        api_o["errors"] += 1
        api_o["messages"].append("'biosamples' appears malformed")
        return
    form = LibraryForm(json_data)
    if not form.is_valid():
        api_o["errors"] += 1
        api_o["ignored"].append(library_name)
        api_o["messages"].append(form.errors.get_json_data())
        return
    # Each step commits on its own as in Majora: a library whose samples are then refused stays created.
    with transaction.atomic():
        lib = _save_library(form.cleaned_data, user, api_o)
    with transaction.atomic():
        tags.set_metadata(lib, json_data.get("metadata", {}), api_o)
    with transaction.atomic():
        if not _check_samples(biosamples, bool(json_data.get("force_biosamples")), api_o):
            return
    for item in biosamples:
        with transaction.atomic():
            _pool_sample(item, library_name, api_o)


# ---------------------------------------------------------------- sequencing/add

SEQUENCING_OAUTH = (
    "majora2.change_libraryartifact majora2.add_dnasequencingprocess majora2.change_dnasequencingprocess"
)
RUN_FIELDS = ("instrument_make", "instrument_model", "flowcell_type", "flowcell_id", "start_time", "end_time")


def try_date(text: str) -> dt.datetime | None:
    """Majora's ``util.try_date``: the first date-like run of digits in a name, if this year or last.

    Majora hands each run of digits and dashes of at least six digits to dateutil's fuzzy parser; the
    forms Elan's run names carry are read here: ``YYMMDD``, ``YYYYMMDD``, ``YYYY-MM-DD``.
    """
    this_year = timezone.now().year
    for part in re.split(r"[^0-9-]", text):
        digits = part.replace("-", "")
        if len(digits) < 6:
            continue
        for fmt in ("%Y-%m-%d", "%Y%m%d", "%y%m%d"):
            try:
                found = dt.datetime.strptime(part.strip("-") if "-" in fmt else digits, fmt)
            except ValueError:
                continue
            if this_year - 1 <= found.year <= this_year:
                return found.replace(tzinfo=dt.UTC)
    return None


def _save_run(cleaned: dict, user, api_o: dict) -> models.DNASequencingProcess:
    """Majora's ``handle_testsequencing``: the run, its link to the library, and its placeholders."""
    sequencing_id = cleaned.get("sequencing_id")
    run_name = cleaned.get("run_name") or str(sequencing_id)
    if sequencing_id:
        run, created = models.DNASequencingProcess.objects.get_or_create(pk=sequencing_id, run_name=run_name)
    else:
        run, created = models.DNASequencingProcess.objects.get_or_create(run_name=run_name)
    if created:
        profile = getattr(user, "profile", None)
        run.submission_user = user
        run.submission_org = profile.institute if profile is not None else None
        # Majora reads start_time before it is set, so a new run's date is the name's date or now.
        run.when = try_date(run_name) or timezone.now()
        api_o["new"].append(format_tuple(run))
    else:
        api_o["updated"].append(format_tuple(run))
    run.run_group = cleaned.get("run_group") or run_name
    for key in RUN_FIELDS:
        setattr(run, key, cleaned.get(key))
    run.save()
    models.DNASequencingProcessRecord.objects.get_or_create(process=run, library=cleaned["library_name"])
    _placeholders(run, run_name, user, api_o)
    # Majora's placeholder downstream pipeline, one per run name: new once, then updated on every add.
    pipe, pipe_created = models.AbstractBioinformaticsProcess.objects.get_or_create(
        hook_name=f"bioinfo-{run_name}", pipe_kind="Pipeline"
    )
    if pipe_created:
        pipe.who, pipe.when = user, run.when
    pipe.pipe_name = cleaned.get("bioinfo_pipe_name")
    pipe.pipe_version = cleaned.get("bioinfo_pipe_version")
    pipe.save()
    api_o["new" if pipe_created else "updated"].append(format_tuple(pipe))
    return run


def _placeholders(run: models.DNASequencingProcess, run_name: str, user, api_o: dict) -> None:
    """The run's non-physical directory and its dummy reads, made by a placeholder basecalling (once)."""
    tree = f"sequencing-dummy-tree-{run_name}"
    group, created = models.DigitalResourceGroup.objects.get_or_create(
        dice_name=tree, defaults={"current_name": tree, "physical": False}
    )
    if not created:
        return
    basecalling = models.AbstractBioinformaticsProcess.objects.create(
        who=user, when=run.when, pipe_kind="Basecalling"
    )
    reads = f"sequencing-dummy-reads-{run_name}"
    dummy = models.DigitalResourceArtifact.objects.create(
        dice_name=reads,
        current_name=reads,
        current_kind="dummy",
        artifact_kind="Digital Resource",
        created=basecalling,
    )
    models.ArtifactProcessRecord.objects.create(process=basecalling, in_group=group, out_artifact=dummy)
    api_o["new"].append(format_tuple(group))
    api_o["new"].append(format_tuple(dummy))


@v2(oauth_permission=SEQUENCING_OAUTH)
def add_sequencing(request, api_o, json_data, user=None, partial=False):
    library_name = json_data.get("library_name")
    if not library_name:
        return missing(api_o, "library_name")
    runs = json_data.get("runs", {})
    if not runs:
        return missing(api_o, "runs")
    if not _library_exists(library_name):
        message = (
            f"Could not add sequencing to Library {library_name} as it does not exist. "
            "Check and fix errors in your library fields and resubmit."
        )
        api_o["messages"].append({"library_name": [{"message": message, "code": ""}]})
        api_o["errors"] += 1
        return
    for run in runs:
        # Majora reports any failure of one run (a run that is not an object, say) as that run's error.
        try:
            run = SequencingForm.modify_preform(run)
            run["library_name"] = library_name
            run["run_group"] = json_data.get("run_group")  # the request's, not the run's
            form = SequencingForm(run)
            if not form.is_valid():
                api_o["errors"] += 1
                api_o["messages"].append(form.errors.get_json_data())
                continue
            with transaction.atomic():
                _save_run(form.cleaned_data, user, api_o)
        except Exception as exc:
            api_o["errors"] += 1
            api_o["messages"].append(str(exc))


def _library_exists(name: Any) -> bool:
    try:
        return models.LibraryArtifact.objects.filter(dice_name=name).count() == 1
    except (TypeError, ValueError):
        return False


# ------------------------------------------------ sequencing/get and get2 (their tasks: sequencing_tasks.py)


def _get_sequencing(json_data: dict, user, api_o: dict, task_kind: str):
    run_names = json_data.get("run_name")
    if not run_names:
        return missing(api_o, "run_name")
    if len(run_names) == 1 and run_names[0] == "*":
        if not user.has_perm("majora2.can_wildcard_sequencing_runs"):
            # Majora's view returns a 400 response here that its wrapper drops: 200, no task, no "get".
            return HttpResponseBadRequest()
        # The task gets the reply as it stands (Majora passes api_o to Celery before adding the task).
        api_o["tasks"].append(tasks.submit(task_kind, {"run_name": ["*"]}, user, envelope=api_o))
        api_o["messages"].append(TASK_MESSAGE)
        # No return: Majora's view goes on to look "*" up as a run name (warning, ignored ["*"], get {}).
    api_o["get"] = lookup_runs(run_names, api_o)
    return None


@v2()
def get_sequencing(request, api_o, json_data, user=None, partial=False):
    return _get_sequencing(json_data, user, api_o, "sequencing_all")


@v2()
def get_sequencing2(request, api_o, json_data, user=None, partial=False):
    return _get_sequencing(json_data, user, api_o, "sequencing_faster")


