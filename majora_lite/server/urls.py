"""URL map: Majora's paths (``mylims/urls.py`` + ``majora2/urls.py``) for the endpoints majora-lite serves."""

from django.contrib.auth import views as auth_views
from django.urls import path
from oauth2_provider import views as oauth2_views

from majora_lite.api import biosamples, files, metrics, pags, qc, sequencing, tags, tasks, v0, v3
from majora_lite.web import pages
from majora_lite.web.oauth import LiteTokenView

urlpatterns = [
    path("", pages.index),
    path("accounts/login/", pages.LoginView.as_view(), name="login"),
    path("accounts/login/totp/", pages.login_totp, name="login-totp"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("o/authorize/", oauth2_views.AuthorizationView.as_view(), name="authorize"),
    path("o/token/", LiteTokenView.as_view(), name="token"),
    path("o/revoke_token/", oauth2_views.RevokeTokenView.as_view(), name="revoke-token"),
    path("o/introspect/", oauth2_views.IntrospectTokenView.as_view(), name="introspect"),
    path("o/callback/", pages.oauth2_callback, name="oauth2_callback"),
    path("api/v2/artifact/biosample/get/", biosamples.get_biosample, name="api.artifact.biosample.get"),
    path(
        "api/v2/artifact/biosample/query/validity/",
        biosamples.biosample_query_validity,
        name="api.artifact.biosample.query.validity",
    ),
    path("api/v2/artifact/biosample/add/", biosamples.add_biosample, name="api.artifact.biosample.add"),
    path(
        "api/v2/artifact/biosample/update/", biosamples.update_biosample, name="api.artifact.biosample.update"
    ),
    path(
        "api/v2/artifact/biosample/addempty/",
        biosamples.addempty_biosample,
        name="api.artifact.biosample.addempty",
    ),
    path("api/v2/artifact/library/add/", sequencing.add_library, name="api.artifact.library.add"),
    path("api/v2/process/sequencing/add/", sequencing.add_sequencing, name="api.process.sequencing.add"),
    path("api/v2/process/sequencing/get/", sequencing.get_sequencing, name="api.process.sequencing.get"),
    path("api/v2/process/sequencing/get2/", sequencing.get_sequencing2, name="api.process.sequencing.get2"),
    path("api/v2/meta/tag/add/", tags.add_tag, name="api.meta.tag.add"),
    path("api/v2/meta/metric/add/", metrics.add_metrics, name="api.meta.metric.add"),
    path("api/v2/meta/qc/add/", qc.add_qc, name="api.meta.qc.add"),
    path("api/v2/artifact/file/add/", files.add_file, name="api.artifact.file.add"),
    path("api/v2/group/mag/get/", files.get_mag, name="api.group.mag.get"),
    path("api/v2/pag/qc/get/", pags.get_pag_by_qc, name="api.pag.qc.get"),
    path("api/v2/pag/accession/add/", pags.add_accession, name="api.pag.accession.add"),
    path("api/v2/group/pag/suppress/", pags.suppress, name="api.group.pag.suppress"),
    path("api/v2/outbound/summary/get/", pags.get_outbound_summary, name="api.outbound.summary.get"),
    path("api/v2/majora/summary/get/", pags.get_summary, name="api.majora.summary.get"),
    path("api/v2/majora/task/get/", tasks.get_task_result, name="api.majora.task.get"),
    path("api/v0/artifact/info/", v0.artifact_info, name="api.artifact.info"),
    path("api/v3/mdv/", v3.mdv_v3, name="api.v3.majora.mdv-list"),
]
