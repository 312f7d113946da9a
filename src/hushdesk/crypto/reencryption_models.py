"""Where a workspace re-encryption has got to: one cursor per retiring key and table.

A row is written in the same transaction as the batch it describes, so after a crash the job
resumes after the last committed batch. Rows are deleted when the retiring key is destroyed.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from hushdesk.infra.db.base import Base, utcnow


class ReencryptionProgress(Base):
    __tablename__ = "reencryption_progress"

    # No foreign key to data_key: the row must survive nothing but its own job, and a key row
    # is never deleted (only its material is erased).
    key_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    table_name: Mapped[str] = mapped_column(String(128), primary_key=True)
    workspace_id: Mapped[uuid.UUID]
    # The id of the last row re-sealed; the next batch starts after it.
    last_id: Mapped[uuid.UUID | None]
    values_resealed: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
