"""A small subset of Majora's models, as data: enough for the v2/v3 API contract, not Majora's schema.

How a model is shown in an API answer (Majora's ``as_struct``) is ``majora_lite.api.structs``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

#: Majora's custom permissions (M23 ``majora2/models.py``), all in app ``majora2``.
CUSTOM_PERMISSIONS = [
    ("view_majoraartifact_info", "Can view basic information of any artifact"),
    ("temp_can_read_pags_via_api", "Can read PAGs via the API"),
    ("can_suppress_pags_via_api", "Can suppress their own PAGs via the API"),
    ("can_suppress_any_pags_via_api", "Can suppress any PAG via the API"),
    ("force_add_biosampleartifact", "Can forcibly add a biosample artifact"),
    ("can_add_anonymous_sample_id", "Can add an anonymous_sample_id"),
    ("can_change_anonymous_sample_id", "Can change an anonymous_sample_id"),
    ("can_wildcard_sequencing_runs", "Can get all sequencing runs via the API"),
    ("can_sudo_as_other_user", "Can act as another user via the API"),
    ("can_read_dataview_via_api", "Can read a dataview via the API"),
    ("can_read_restricted_dataview_via_api", "Can read restricted dataview fields via the API"),
    ("can_register_institute", "Can register an institute"),
    ("can_revoke_profiles", "Can revoke profiles"),
    ("can_approve_profiles", "Can approve profiles"),
    ("can_approve_profiles_via_bot", "Can approve profiles via a bot"),
    ("can_grant_profile_permissions", "Can grant profile permissions"),
]


class Institute(models.Model):
    code = models.CharField(max_length=10, unique=True)
    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.code


class Profile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    institute = models.ForeignKey(Institute, on_delete=models.PROTECT, null=True)
    is_revoked = models.BooleanField(default=False)

    class Meta:
        permissions = CUSTOM_PERMISSIONS


class ProfileAPIKey(models.Model):
    """A legacy API key, sent as body ``username`` + ``token``; valid for a window."""

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="api_keys")
    key = models.CharField(max_length=128, unique=True)
    permission = models.CharField(max_length=128, blank=True, default="")  # "majora2.x" or ""
    was_revoked = models.BooleanField(default=False)
    validity_start = models.DateTimeField()
    validity_end = models.DateTimeField()


class MajoraArtifact(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    dice_name = models.CharField(max_length=128, db_index=True)
    artifact_kind = models.CharField(max_length=48)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)


#: Namespace of the UUIDs majora-lite answers for biosample sources (see ``BiosampleSource.uuid``).
SOURCE_UUID_NAMESPACE = uuid.UUID("5f1c3f0e-8d8a-4c53-9b1e-2f6f4b0c7a11")


class BiosampleSource(models.Model):
    dice_name = models.CharField(max_length=128, unique=True)
    source_type = models.CharField(max_length=48, default="human")

    @property
    def uuid(self) -> uuid.UUID:
        """The id answers give this source. Majora's source is an artifact group with a UUID id; here the
        key stays an integer (no migration for old data dirs) and the UUID is derived from the source's
        name, so it is the same in every answer and across restarts."""
        return uuid.uuid5(SOURCE_UUID_NAMESPACE, self.dice_name)


class BiosourceSamplingProcess(models.Model):
    """Sampling fields (Majora splits these over the process and a COG-UK supplement)."""

    collection_date = models.DateField(null=True)
    received_date = models.DateField(null=True)
    submission_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    submission_org = models.ForeignKey(Institute, null=True, on_delete=models.SET_NULL)
    source_sex = models.CharField(max_length=10, blank=True, default="")
    source_age = models.IntegerField(null=True)
    collected_by = models.CharField(max_length=100, blank=True, default="")
    collection_location_country = models.CharField(max_length=100, blank=True, default="")
    collection_location_adm1 = models.CharField(max_length=100, blank=True, default="")
    collection_location_adm2 = models.CharField(max_length=100, blank=True, default="")
    private_collection_location_adm2 = models.CharField(max_length=10, blank=True, default="")
    is_surveillance = models.BooleanField(null=True)
    collection_pillar = models.IntegerField(null=True)
    supplement = models.JSONField(default=dict)  # COG-UK supplementary fields (is_hcw, ...)


class BiosampleArtifact(MajoraArtifact):
    central_sample_id = models.CharField(max_length=48, unique=True)
    sender_sample_id = models.CharField(max_length=48, blank=True, default="")
    anonymous_sample_id = models.CharField(max_length=48, null=True)
    root_sample_id = models.CharField(max_length=48, blank=True, default="")
    sample_type_collected = models.CharField(max_length=24, blank=True, default="")
    sample_type_received = models.CharField(max_length=24, blank=True, default="")
    swab_site = models.CharField(max_length=24, null=True)
    root_biosample_source_id = models.CharField(max_length=48, null=True)
    primary_group = models.ForeignKey(BiosampleSource, null=True, on_delete=models.SET_NULL)
    created = models.OneToOneField(
        BiosourceSamplingProcess, null=True, on_delete=models.SET_NULL, related_name="biosample"
    )
    # Bumped only when the sample's content changes (not part of as_struct: Majora has none).
    revision = models.IntegerField(default=0)
    modified = models.DateTimeField(null=True)

    class Meta:
        permissions = []
        # Majora's anonymous_sample_id is unique, so indexed; here only indexed: the API checks that an id
        # is not taken before saving, with Majora's messages.
        indexes = [models.Index(fields=["anonymous_sample_id"], name="majora2_bsa_anonymous_id")]


class LibraryArtifact(MajoraArtifact):
    layout_config = models.CharField(max_length=24, blank=True, default="")
    layout_read_length = models.IntegerField(null=True)
    layout_insert_length = models.IntegerField(null=True)
    seq_kit = models.CharField(max_length=48, blank=True, default="")
    seq_protocol = models.CharField(max_length=48, blank=True, default="")


class LibraryPoolingProcess(models.Model):
    """One biosample in a library (Majora's LibraryPoolingProcessRecord)."""

    library = models.ForeignKey(LibraryArtifact, on_delete=models.CASCADE, related_name="pooling_records")
    biosample = models.ForeignKey(BiosampleArtifact, on_delete=models.CASCADE, related_name="libraries")
    barcode = models.CharField(max_length=24, null=True)
    library_source = models.CharField(max_length=24, blank=True, default="")
    library_selection = models.CharField(max_length=24, blank=True, default="")
    library_strategy = models.CharField(max_length=24, blank=True, default="")
    library_protocol = models.CharField(max_length=48, blank=True, default="")
    library_primers = models.CharField(max_length=48, blank=True, default="")
    sequencing_org_received_date = models.DateField(null=True)

    class Meta:
        unique_together = [("library", "biosample")]


class DNASequencingProcess(models.Model):
    """A sequencing run; its libraries are linked through records, so one run can hold several."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run_name = models.CharField(max_length=128, unique=True)
    run_group = models.CharField(max_length=128, blank=True, default="")
    libraries = models.ManyToManyField(
        LibraryArtifact, through="DNASequencingProcessRecord", related_name="runs"
    )
    instrument_make = models.CharField(max_length=64, blank=True, default="")
    instrument_model = models.CharField(max_length=48, blank=True, default="")
    flowcell_type = models.CharField(max_length=48, blank=True, default="")
    flowcell_id = models.CharField(max_length=48, blank=True, default="")
    start_time = models.DateTimeField(null=True)
    end_time = models.DateTimeField(null=True)
    # Majora's ``when``: the submission date (a date in the run name, else the time of the first add).
    when = models.DateTimeField(null=True)
    submission_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    submission_org = models.ForeignKey(Institute, null=True, on_delete=models.SET_NULL)


class DNASequencingProcessRecord(models.Model):
    """One library sequenced on a run (Majora's DNASequencingProcessRecord)."""

    process = models.ForeignKey(DNASequencingProcess, on_delete=models.CASCADE, related_name="records")
    library = models.ForeignKey(LibraryArtifact, on_delete=models.CASCADE, related_name="run_records")

    class Meta:
        unique_together = [("process", "library")]


class DigitalResourceNode(models.Model):
    """A machine or file system holding digital resources (Majora's root group of a directory tree)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    node_name = models.CharField(max_length=128, unique=True)

    kind = "Digital Resource Node"


class DigitalResourceGroup(models.Model):
    """A directory (Majora's MAG) under a node; ``group_path`` is set only on hard-path directories."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    current_name = models.CharField(max_length=512, blank=True, null=True)
    dice_name = models.CharField(max_length=96, blank=True, null=True, unique=True)
    group_path = models.CharField(max_length=1024, blank=True, null=True, unique=True)
    root_node = models.ForeignKey(
        DigitalResourceNode, null=True, on_delete=models.PROTECT, related_name="groups"
    )
    # None with a root node: the directory sits right under the node.
    parent_group = models.ForeignKey("self", null=True, on_delete=models.PROTECT, related_name="children")
    physical = models.BooleanField(default=False)
    temp_kind = models.CharField(max_length=48, blank=True, null=True)

    kind = "Digital Resource Group"


class AbstractBioinformaticsProcess(models.Model):
    """A pipeline run that made digital resources (Majora's process kind "Bioinformatics: <kind>")."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    hook_name = models.CharField(max_length=256, blank=True, null=True, unique=True)
    pipe_kind = models.CharField(max_length=64, blank=True, null=True)
    pipe_name = models.CharField(max_length=96, blank=True, null=True)
    pipe_version = models.CharField(max_length=48, blank=True, null=True)
    who = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    when = models.DateTimeField(null=True)

    @property
    def kind(self) -> str:
        return f"Bioinformatics: {self.pipe_kind}"


class DigitalResourceArtifact(MajoraArtifact):
    current_path = models.CharField(max_length=1024, blank=True, default="")
    current_name = models.CharField(max_length=512, blank=True, default="", db_index=True)
    current_extension = models.CharField(max_length=48, blank=True, default="")
    current_kind = models.CharField(max_length=48, blank=True, default="")
    current_hash = models.CharField(max_length=64, blank=True, default="")
    current_size = models.BigIntegerField(default=0)
    # The directory holding the file: a group, or the node itself when the path has no directory.
    primary_group = models.ForeignKey(
        DigitalResourceGroup, null=True, on_delete=models.PROTECT, related_name="files"
    )
    primary_node = models.ForeignKey(
        DigitalResourceNode, null=True, on_delete=models.PROTECT, related_name="files"
    )
    created = models.ForeignKey(
        AbstractBioinformaticsProcess, null=True, on_delete=models.SET_NULL, related_name="outputs"
    )

    class Meta:
        # Not in Majora: ``meta/metric/add`` by ``artifact_path`` finds a file by its path, a scan of every
        # file without this index (0.3 s a request at 100,000 PAGs). An index, not ``db_index=True``: on
        # SQLite that would copy the table to migrate an existing data directory.
        indexes = [models.Index(fields=["current_path"], name="majora2_dra_current_path")]


class ArtifactProcessRecord(models.Model):
    """One input of a process for one output (Majora's MajoraArtifactProcessRecord), with its bridge."""

    process = models.ForeignKey(
        AbstractBioinformaticsProcess, on_delete=models.CASCADE, related_name="records"
    )
    in_artifact = models.ForeignKey(MajoraArtifact, null=True, on_delete=models.CASCADE, related_name="+")
    in_group = models.ForeignKey(DigitalResourceGroup, null=True, on_delete=models.CASCADE, related_name="+")
    out_artifact = models.ForeignKey(MajoraArtifact, null=True, on_delete=models.CASCADE, related_name="+")
    bridge_artifact = models.ForeignKey(
        MajoraArtifact, null=True, on_delete=models.SET_NULL, related_name="+"
    )


class MajoraMetaRecord(models.Model):
    artifact = models.ForeignKey(MajoraArtifact, on_delete=models.CASCADE, related_name="metadata")
    meta_tag = models.CharField(max_length=64)
    meta_name = models.CharField(max_length=64)
    value = models.CharField(max_length=128, null=True)
    restricted = models.BooleanField(default=False)
    timestamp = models.DateTimeField(auto_now=True)

    class Meta:
        unique_together = [("artifact", "meta_tag", "meta_name")]


class TemporaryMajoraArtifactMetric(models.Model):
    """One metric namespace of an artifact (ct, sequence, mapping, tile-mapping) as JSON."""

    artifact = models.ForeignKey(MajoraArtifact, on_delete=models.CASCADE, related_name="metrics")
    namespace = models.CharField(max_length=64)
    data = models.JSONField(default=dict)

    class Meta:
        unique_together = [("artifact", "namespace")]


class PublishedArtifactGroup(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    published_name = models.CharField(max_length=128, db_index=True)
    published_version = models.IntegerField(default=1)
    published_date = models.DateField(null=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    owner_org = models.ForeignKey(Institute, null=True, on_delete=models.SET_NULL)
    is_latest = models.BooleanField(default=True)
    is_public = models.BooleanField(default=False)
    public_timestamp = models.DateTimeField(null=True)
    is_suppressed = models.BooleanField(default=False)
    suppressed_date = models.DateTimeField(null=True)
    suppressed_reason = models.CharField(max_length=24, blank=True, default="")
    tagged_artifacts = models.ManyToManyField(MajoraArtifact, related_name="pags")

    kind = "Published Artifact Group"

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["published_name", "is_latest"], name="is_only_published"),
        ]


class PAGQualityReport(models.Model):
    """The outcome of one QC test group for one PAG (Majora's PAGQualityReportEquivalenceGroup)."""

    pag = models.ForeignKey(PublishedArtifactGroup, on_delete=models.CASCADE, related_name="quality_groups")
    test_name = models.CharField(max_length=64)
    test_version = models.CharField(max_length=24, blank=True, default="1")
    is_pass = models.BooleanField(default=False)
    last_updated = models.DateTimeField(null=True)

    class Meta:
        # No index on test_name alone (Majora's foreign key to the test group has one): with it, SQLite
        # answers the PAG listings' join from every report of the test (0.3 s at 100,000 PAGs) instead of
        # from the PAGs (0.03 s with a published_date window).
        unique_together = [("pag", "test_name")]


class TemporaryAccessionRecord(models.Model):
    pag = models.ForeignKey(PublishedArtifactGroup, on_delete=models.CASCADE, related_name="accessions")
    service = models.CharField(max_length=64)
    primary_accession = models.CharField(max_length=64, null=True)
    secondary_accession = models.CharField(max_length=64, null=True)
    tertiary_accession = models.CharField(max_length=64, null=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    requested_timestamp = models.DateTimeField(null=True)
    is_public = models.BooleanField(default=False)
    public_timestamp = models.DateTimeField(null=True)
    is_rejected = models.BooleanField(default=False)
    rejected_timestamp = models.DateTimeField(null=True)
    rejected_reason = models.CharField(max_length=24, null=True)


class QCTestGroup(models.Model):
    """A QC test family by slug (Majora's PAGQualityTestEquivalenceGroup), e.g. cog-uk-elan-minimal-qc."""

    slug = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=64, blank=True, default="")


class QCTest(models.Model):
    """One test set of a family, e.g. "Minimal ILL" (Majora's PAGQualityTest); filters say when it runs."""

    group = models.ForeignKey(QCTestGroup, on_delete=models.CASCADE, related_name="tests")
    name = models.CharField(max_length=64, unique=True)
    slug = models.CharField(max_length=64, blank=True, default="")


class QCTestFilter(models.Model):
    """Run the test only when a metadata value equals (EQ) or differs from (NEQ) a string."""

    test = models.ForeignKey(QCTest, on_delete=models.CASCADE, related_name="filters")
    filter_name = models.CharField(max_length=64)
    filter_desc = models.CharField(max_length=128, blank=True, default="")
    force_field = models.BooleanField(default=True)
    metadata_namespace = models.CharField(max_length=64)
    metadata_name = models.CharField(max_length=64)
    filter_on_str = models.CharField(max_length=64)
    op = models.CharField(max_length=3, null=True)


class QCTestVersion(models.Model):
    test = models.ForeignKey(QCTest, on_delete=models.CASCADE, related_name="versions")
    version_number = models.PositiveSmallIntegerField()
    version_date = models.DateField()


class QCTestRule(models.Model):
    """A threshold check on one metric; an unset (or zero) bound is not checked, as in Majora."""

    version = models.ForeignKey(QCTestVersion, on_delete=models.CASCADE, related_name="rules")
    rule_name = models.CharField(max_length=64)
    rule_desc = models.CharField(max_length=128, blank=True, default="")
    metric_namespace = models.CharField(max_length=64)
    metric_name = models.CharField(max_length=64)
    warn_min = models.FloatField(null=True)
    warn_max = models.FloatField(null=True)
    fail_min = models.FloatField(null=True)
    fail_max = models.FloatField(null=True)

    def __str__(self) -> str:
        return self.rule_name


class QCTestDecision(models.Model):
    """A failing decision fails the test: rule ``a`` alone, or ``a`` AND/OR ``b``."""

    version = models.ForeignKey(QCTestVersion, on_delete=models.CASCADE, related_name="decisions")
    a = models.ForeignKey(QCTestRule, on_delete=models.CASCADE, related_name="+")
    b = models.ForeignKey(QCTestRule, null=True, on_delete=models.CASCADE, related_name="+")
    op = models.CharField(max_length=3, null=True)

    def __str__(self) -> str:
        return f"{self.a} {self.op} {self.b}" if self.b_id else str(self.a)


class MajoraDataviewDefinition(models.Model):
    """A dataview (Majora's ``MajoraDataview``) as loaded from Majora's ``data/mdv`` file format.

    ``fields`` holds the file's MF lines as ``[model_name, model_field]`` pairs and ``filters`` its FF
    lines as ``{"field", "op", "type", "value"}`` (Majora's serializer and filter field tables).
    """

    code_name = models.CharField(max_length=48, unique=True)
    name = models.CharField(max_length=128, blank=True, default="")
    description = models.CharField(max_length=256, blank=True, default="")
    entry_point = models.CharField(max_length=48, default="BiosampleArtifact")
    fields = models.JSONField(default=list)
    filters = models.JSONField(default=list)


class ProfileAgreementDefinition(models.Model):
    """An agreement users sign (Majora's); dataviews such as PHE1 select samples of signatories."""

    slug = models.CharField(max_length=48, unique=True)
    name = models.CharField(max_length=96, blank=True, default="")


class ProfileAgreement(models.Model):
    agreement = models.ForeignKey(ProfileAgreementDefinition, on_delete=models.PROTECT)
    profile = models.ForeignKey(Profile, on_delete=models.PROTECT, related_name="agreements")
    signature_timestamp = models.DateTimeField()
    is_terminated = models.BooleanField(default=False)


class MajoraDataviewUserPermission(models.Model):
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE)
    dataview = models.ForeignKey(MajoraDataviewDefinition, on_delete=models.CASCADE)
    validity_start = models.DateTimeField()
    validity_end = models.DateTimeField()
    is_revoked = models.BooleanField(default=False)


class TatlTask(models.Model):
    """An async task (Celery in Majora) run by the server's worker pool; the result is read once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    kind = models.CharField(max_length=48)
    params = models.JSONField(default=dict)
    state = models.CharField(max_length=16, default="PENDING")
    result = models.TextField(null=True)
    cleaned = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True)
