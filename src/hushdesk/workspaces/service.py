"""Creating and finding workspaces."""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hushdesk.workspaces.models import Region, Workspace

_SLUG_STRIP = re.compile(r"[^a-z0-9]+")


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = _SLUG_STRIP.sub("-", ascii_name.lower()).strip("-")
    return slug[:48] or "workspace"


def do_create_workspace(session: Session, *, name: str, region: Region) -> Workspace:
    """Create a workspace with a unique slug derived from ``name``. Flushes; never commits."""
    base = slugify(name)
    slug = base
    suffix = 1
    while session.scalar(select(func.count()).where(Workspace.slug == slug)):
        suffix += 1
        slug = f"{base}-{suffix}"
    workspace = Workspace(name=name, slug=slug, region=region.value)
    session.add(workspace)
    session.flush()
    return workspace
