"""Write-audit-publish of the marts to a read-only serving database (and Parquet)."""

from orchestration.publish.serving import (
    AuditFailedError,
    AuditQuery,
    PublishError,
    PublishResult,
    audit,
    comments_from_manifest,
    key_columns_from_manifest,
    publish_marts,
    rollback_serving,
    verify_serving,
)

__all__ = [
    "AuditFailedError",
    "AuditQuery",
    "PublishError",
    "PublishResult",
    "audit",
    "comments_from_manifest",
    "key_columns_from_manifest",
    "publish_marts",
    "rollback_serving",
    "verify_serving",
]
