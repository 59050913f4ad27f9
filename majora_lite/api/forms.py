"""The three biosample forms of Majora's ``biosample/add`` (COG-UK supplement, sampling process, artifact).

Majora validates a biosample with three Django model forms in a fixed order and reports only the first
form that fails. This module reproduces each form's fields, its data clean-up before validation (field
renames, upper/lower-casing, Y/N coercion, all done on the request's own dict as Majora does), Django 2.2's
field cleaning and messages, and each form's ``clean`` rules, written from Majora's definitions.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

#: Django's empty values: a field given one of these is empty.
EMPTY = (None, "", [], (), {})
#: Django 2.2's date input formats for the en-us locale (Majora runs with USE_L10N).
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y")
RESERVED_CHARACTERS = [".", "/", "\\"]
#: Majora's ANON_POSTFIX_LENGTH (the accepted prefixes, ANON_PREFIXES, are empty: any prefix).
ANON_POSTFIX_LENGTH = 8
NOT_SURVEILLANCE = "You must set is_surveillance to Y or N"


def _empty(value: Any) -> bool:
    return any(value is e or (type(value) is type(e) and value == e) for e in EMPTY)


@dataclass
class Field:
    """One form field: how its value is cleaned (``kind``) and what it accepts."""

    kind: str  # char, choice, pillar, int, date, nullbool, disabled
    max_length: int | None = None
    choices: tuple = ()
    required: bool = False
    null: bool = True  # an empty char field cleans to None (model field with null=True)
    min_value: int | None = None


class FieldError(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message, self.code = message, code


def clean_field(f: Field, value: Any, initial: Any = None) -> Any:
    """Django 2.2's ``Field.clean`` for the field kinds these forms use; raises FieldError."""
    if f.kind == "disabled":
        return initial
    if f.kind == "nullbool":
        # NullBooleanSelect.value_from_datadict: anything but these becomes None (never an error).
        for key, out in ((True, True), ("True", True), ("true", True), ("2", True)):
            if value == key and type(value) in (bool, str, int, float):
                return out
        for key, out in ((False, False), ("False", False), ("false", False), ("3", False)):
            if value == key and type(value) in (bool, str, int, float):
                return out
        return None
    if f.kind == "char":
        out = None if _empty(value) else str(value).strip()
        if _empty(out):
            if f.required:
                raise FieldError("This field is required.", "required")
            return None if f.null else ""
        if f.max_length is not None and len(out) > f.max_length:
            raise FieldError(
                f"Ensure this value has at most {f.max_length} characters (it has {len(out)}).", "max_length"
            )
        if "\x00" in out:
            raise FieldError("Null characters are not allowed.", "null_characters_not_allowed")
        return out
    if f.kind in ("choice", "pillar"):
        out = "" if _empty(value) else str(value)
        if out == "":
            if f.required:
                raise FieldError("This field is required.", "required")
            return None if f.kind == "pillar" else ""
        if out not in f.choices:
            raise FieldError(
                f"Select a valid choice. {out} is not one of the available choices.", "invalid_choice"
            )
        return int(out) if f.kind == "pillar" else out
    if f.kind == "int":
        if _empty(value):
            if f.required:
                raise FieldError("This field is required.", "required")
            return None
        try:
            out = int(re.sub(r"\.0*\s*$", "", str(value)))
        except (TypeError, ValueError):
            raise FieldError("Enter a whole number.", "invalid") from None
        if f.min_value is not None and out < f.min_value:
            raise FieldError(f"Ensure this value is greater than or equal to {f.min_value}.", "min_value")
        return out
    if f.kind == "date":
        if _empty(value):
            if f.required:
                raise FieldError("This field is required.", "required")
            return None
        # Django calls value.strip(): a number here raises AttributeError, which Majora's view reports.
        text = value.strip()
        for fmt in DATE_FORMATS:
            try:
                return dt.datetime.strptime(text, fmt).date()
            except ValueError:
                continue
        raise FieldError("Enter a valid date.", "invalid")
    raise ValueError(f"unknown field kind {f.kind}")


@dataclass
class Form:
    """A Majora ``MajoraPossiblePartialModelForm`` run on the request's biosample dict."""

    fields: dict[str, Field]
    field_map: dict[str, str]
    data: dict
    initial: dict
    partial: bool
    adding: bool = False
    cleaned: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)

    def prepare(self) -> None:
        """Rename request keys to model names (on the shared dict, as Majora does); drop unsent fields."""
        for src, dst in self.field_map.items():
            for d in (self.initial, self.data):
                if src in d:
                    d[dst] = d.pop(src)
        self.modify()
        if self.partial:
            keep = set(self.data) | set(self.initial)
            self.fields = {k: v for k, v in self.fields.items() if k in keep}

    def modify(self) -> None:
        """The form's ``modify_preform`` (mutates the request dict)."""

    def add_error(self, name: str, message: str, code: str = "") -> None:
        if name not in self.fields:
            name = "__all__"
        self.errors.setdefault(name, []).append({"message": message, "code": code})
        self.cleaned.pop(name, None)

    def is_valid(self) -> bool:
        self.prepare()
        for name, f in self.fields.items():
            try:
                self.cleaned[name] = clean_field(f, self.data.get(name), self.initial.get(name))
            except FieldError as exc:
                self.errors.setdefault(name, []).append({"message": exc.message, "code": exc.code})
        self.clean()
        # Majora's _post_clean: report errors under the names the user sent.
        for src, dst in self.field_map.items():
            if dst in self.errors:
                self.errors[src] = self.errors.pop(dst)
        return not self.errors

    def clean(self) -> None:
        """The form's own ``clean`` rules."""


def _uppercase(data: dict, names: list[str]) -> None:
    for name in names:
        if data.get(name):
            data[name] = data[name].strip().upper()


YN = "nullbool"


class SupplementForm(Form):
    """``COGUK_BiosourceSamplingProcessSupplement_ModelForm`` (runs first)."""

    COERCE = [
        "is_surveillance",
        "is_hcw",
        "is_hospital_patient",
        "is_care_home_worker",
        "is_care_home_resident",
        "admitted_with_covid_diagnosis",
        "is_icu_patient",
    ]

    def __init__(self, data: dict, initial: dict, partial: bool) -> None:
        fields = {
            "is_surveillance": Field(YN),
            "is_hcw": Field(YN),
            "employing_hospital_name": Field("char", 100),
            "employing_hospital_trust_or_board": Field("char", 100),
            "is_hospital_patient": Field(YN),
            "is_icu_patient": Field(YN),
            "admission_date": Field("date"),
            "admitted_hospital_name": Field("char", 100),
            "admitted_hospital_trust_or_board": Field("char", 100),
            "is_care_home_worker": Field(YN),
            "is_care_home_resident": Field(YN),
            "anonymised_care_home_code": Field("char", 10),
            "admitted_with_covid_diagnosis": Field(YN),
            "collection_pillar": Field("pillar", choices=("1", "2", "103", "34613")),
        }
        super().__init__(fields, {}, data, initial, partial)

    def modify(self) -> None:
        for name in self.COERCE:
            value = self.data.get(name)
            if value and isinstance(value, str):
                v = value.strip().upper()
                self.data[name] = True if v in ("Y", "YES") else False if v in ("N", "NO") else None

    def clean(self) -> None:
        if self.cleaned.get("is_surveillance") is None and not self.partial:
            self.add_error("is_surveillance", NOT_SURVEILLANCE)
        if self.cleaned.get("admission_date") and not self.cleaned.get("is_hospital_patient"):
            self.add_error(
                "is_hospital_patient",
                "Admission date implies patient was admitted to hospital but you've not set "
                "is_hospital_patient to Y",
            )


class ProcessForm(Form):
    """``BiosourceSamplingProcessModelForm`` (runs second)."""

    def __init__(self, data: dict, initial: dict, partial: bool, adding: bool) -> None:
        fields = {
            "collection_date": Field("date"),
            "received_date": Field("date"),
            "source_age": Field("int", min_value=0),
            "source_sex": Field("choice", choices=("F", "M", "Other")),
            "collected_by": Field("char", 100),
            "collection_location_adm1": Field(
                "choice", choices=("UK-ENG", "UK-SCT", "UK-WLS", "UK-NIR"), required=True
            ),
            "collection_location_adm2": Field("char", 100),
            "private_collection_location_adm2": Field("char", 100),
            "collection_location_country": Field("disabled"),
        }
        field_map = {
            "collecting_org": "collected_by",
            "country": "collection_location_country",
            "adm1": "collection_location_adm1",
            "adm2": "collection_location_adm2",
            "adm2_private": "private_collection_location_adm2",
        }
        super().__init__(fields, field_map, data, initial, partial, adding)

    def modify(self) -> None:
        _uppercase(self.data, ["collection_location_adm2"])

    def clean(self) -> None:
        c, today = self.cleaned, timezone.now().date()
        if not c.get("collection_date") and not c.get("received_date") and not self.partial:
            self.add_error(
                "received_date", "You must provide a received date for samples without a collection date"
            )
        # Each add_error drops the field from the cleaned data, so a later rule on it no longer fires.
        if self.adding:
            year_ago = today - dt.timedelta(days=365)
            if c.get("collection_date") and c["collection_date"] < year_ago:
                self.add_error("collection_date", "Sample cannot be collected more than a year ago...")
            if c.get("received_date") and c["received_date"] < year_ago:
                self.add_error("received_date", "Sample cannot be received more than a year ago...")
        if c.get("collection_date") and c.get("received_date") and c["received_date"] < c["collection_date"]:
            self.add_error(
                "collection_date",
                "Sample cannot be collected after it was received. Perhaps they have been swapped?",
            )
        for name, verb in (("collection_date", "collected"), ("received_date", "received")):
            if c.get(name) and c[name] > today:
                self.add_error(name, f"Sample cannot be {verb} in the future")
        for name, verb in (("collection_date", "collected"), ("received_date", "received")):
            if c.get(name) and c[name].year < 2020:
                self.add_error(name, f"Sample cannot be {verb} before 2020")
        if c.get("collection_location_adm2") and re.search(r"\d", c["collection_location_adm2"]):
            self.add_error(
                "collection_location_adm2",
                "adm2 cannot contain numbers. "
                "Use adm2_private if you are trying to provide an outer postcode",
            )
        if c.get("private_collection_location_adm2") and " " in c["private_collection_location_adm2"]:
            self.add_error("private_collection_location_adm2", "Enter the first part of the postcode only")


def anonymous_id_problems(anonymous_sample_id: str) -> list[str]:
    """Majora's ``validate_anonymous_sample_id`` (any prefix accepted, postfix of ANON_POSTFIX_LENGTH)."""
    problems = []
    prefix, _, postfix = anonymous_sample_id.partition("-")
    if not prefix or not postfix or "-" in postfix:
        problems.append(
            "anonymous_sample_id must consist of a prefix and postfix, separated by a single '-' character"
        )
    if len(postfix) != ANON_POSTFIX_LENGTH:
        problems.append(
            f"anonymous_sample_id must have a postfix of length {ANON_POSTFIX_LENGTH}, "
            f"but received a postfix of length: {len(postfix)}"
        )
    if not postfix.isalnum():
        problems.append("anonymous_sample_id postfix can only contain alphanumeric characters")
    return problems


class ArtifactForm(Form):
    """``BiosampleArtifactModelForm`` (runs last).

    Majora renames ``swab_site`` and ``sample_type_received`` to model fields that are plain text
    fields, so their declared choices are never applied; only ``sample_type_collected`` is a choice.
    """

    def __init__(self, data: dict, initial: dict, partial: bool, taken_anonymous_id) -> None:
        fields = {
            "sample_type_collected": Field(
                "choice", choices=("dry swab", "swab", "aspirate", "sputum", "BAL")
            ),
            "swab_site": Field("choice", choices=("nose", "throat", "nose-throat", "endotracheal", "rectal")),
            "sample_type_received": Field("choice", choices=("primary", "extract", "lysate", "culture")),
            "taxonomy_identifier": Field("disabled"),
            "root_sample_id": Field("char", 48),
            "sender_sample_id": Field("char", 48),
            "central_sample_id": Field("char", 48),
            "anonymous_sample_id": Field("char", 48),
            "sample_type_current": Field("char", 24),
            "sample_site": Field("char", 24),
            "root_biosample_source_id": Field("char", 48),
        }
        field_map = {
            "swab_site": "sample_site",
            "sample_type_received": "sample_type_current",
            "source_taxon": "taxonomy_identifier",
        }
        super().__init__(fields, field_map, data, initial, partial)
        self.taken_anonymous_id = taken_anonymous_id

    def modify(self) -> None:
        # Majora lists swab_site and sample_type_received here too, but they were renamed just before.
        value = self.data.get("sample_type_collected")
        if value:
            value = value.strip()
            self.data["sample_type_collected"] = value if value == "BAL" else value.lower()
        _uppercase(self.data, ["anonymous_sample_id"])

    def clean(self) -> None:
        c = self.cleaned
        csid = c.get("central_sample_id")
        if csid and any(ch in csid for ch in RESERVED_CHARACTERS):
            self.add_error(
                "central_sample_id",
                f"central_sample_id cannot contain a reserved character: {RESERVED_CHARACTERS}",
            )
        anon = c.get("anonymous_sample_id")
        if anon:
            for problem in anonymous_id_problems(anon):
                self.add_error("anonymous_sample_id", problem)
        stype = c.get("sample_type_collected")
        if stype and "swab" not in stype and stype != "aspirate" and c.get("sample_site"):
            self.add_error("sample_type_collected", "Swab site specified but the sample type is not 'swab'")
        # The model's unique check (ModelForm._post_clean).
        anon = c.get("anonymous_sample_id")
        if anon and "anonymous_sample_id" not in self.errors and self.taken_anonymous_id(anon):
            self.add_error(
                "anonymous_sample_id",
                "Biosample artifact with this Anonymous sample id already exists.",
                "unique",
            )


def fixed_initial(user) -> dict:
    """Majora's ``fill_fixed_data("api.artifact.biosample.add", user)``."""
    profile = getattr(user, "profile", None)
    org = profile.institute if profile is not None else None
    return {
        "source_type": "human",
        "source_taxon": "2697049",
        "country": "United Kingdom",
        "submitting_user": user.username,
        "submission_org": org.pk if org is not None and not org.code.startswith("?") else None,
    }
