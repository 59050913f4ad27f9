"""Discovery shim: Snakemake finds storage plugins by this package name.

Importing this module must never raise or touch the network: Snakemake imports every
installed storage plugin on every invocation, so a failure here would break them all.
If the implementation cannot be imported (a broken dependency), a stand-in provider is
exported instead: every other Snakemake command keeps working, and using ``majora://``
gives a one-line error naming the import problem.
"""

try:
    from snakemake_majora.plugin import StorageObject, StorageProvider, StorageProviderSettings
except Exception as _exc:
    _IMPORT_ERROR = f"{type(_exc).__name__}: {_exc}"

    from snakemake_interface_common.exceptions import WorkflowError
    from snakemake_interface_storage_plugins.storage_object import StorageObjectRead
    from snakemake_interface_storage_plugins.storage_provider import (
        StorageProviderBase,
        StorageQueryValidationResult,
    )

    _MESSAGE = (
        f"the majora storage plugin could not be loaded ({_IMPORT_ERROR}); "
        "reinstall snakemake-storage-plugin-majora"
    )

    class StorageProvider(StorageProviderBase):  # type: ignore[no-redef]
        """Stand-in used only when the real plugin failed to import."""

        def __post_init__(self):
            raise WorkflowError(_MESSAGE)

        @classmethod
        def example_queries(cls):
            return []

        def rate_limiter_key(self, query, operation):
            return "majora"

        def default_max_requests_per_second(self):
            return 1.0

        def use_rate_limiter(self):
            return False

        @classmethod
        def is_valid_query(cls, query):
            # Claim majora:// so that using it reaches __post_init__ and its explanation.
            ok = isinstance(query, str) and query.startswith("majora://")
            return StorageQueryValidationResult(query=query, valid=ok, reason=None if ok else _MESSAGE)

    class StorageObject(StorageObjectRead):  # type: ignore[no-redef]
        """Stand-in used only when the real plugin failed to import."""

        def _fail(self, *args, **kwargs):
            raise WorkflowError(_MESSAGE)

        local_suffix = get_inventory_parent = cleanup = exists = mtime = size = retrieve_object = _fail

        async def inventory(self, cache):
            self._fail()

    StorageProviderSettings = None  # type: ignore[assignment,misc]

__all__ = ["StorageObject", "StorageProvider", "StorageProviderSettings"]
