"""The guardrail service: OpenAI-compatible moderation, a guard check, and guarded chat (proxy
in front of any OpenAI-compatible server, or a local model), with keys, limits and an audit log.

    from safealign.serve import ServeConfig, create_app
    app = create_app(ServeConfig(upstream_url="http://127.0.0.1:8001/v1"))

Layout: `protocol` (wire shapes), `handlers` (serving logic), `app` (routes and wiring),
`streaming` (windowed output guard), `batching`, `policy`, `auth`, `audit`, `backends`, `config`.
"""

from safealign.serve.app import create_app
from safealign.serve.audit import AuditExportConfig, AuditRecord, AuditStore, export_audit
from safealign.serve.config import PolicyConfig, PolicyRule, ServeConfig, load_serve_config
from safealign.serve.server import run_server

__all__ = [
    "AuditExportConfig",
    "AuditRecord",
    "AuditStore",
    "PolicyConfig",
    "PolicyRule",
    "ServeConfig",
    "create_app",
    "export_audit",
    "load_serve_config",
    "run_server",
]
