"""Untrusted document bytes to clean text sections: type detection, one reader per format
(PDF, HTML, Markdown, DOCX, plain text, CSV question/answer pairs), and the refusals an admin
sees. Pure: no database, network or file store."""

from hushdesk.agents.knowledge.extraction.document import DocumentKind, ExtractedDocument, Section
from hushdesk.agents.knowledge.extraction.errors import (
    ArchiveBomb,
    CorruptDocument,
    DocumentRejected,
    DocumentTooLarge,
    DocumentTypeMismatch,
    EmptyDocument,
    EncryptedDocument,
    UnrecognisedColumns,
    UnsupportedDocumentType,
)
from hushdesk.agents.knowledge.extraction.extractor import extract, extract_pasted_text
from hushdesk.agents.knowledge.extraction.kinds import KIND_BY_EXTENSION, kind_for
from hushdesk.agents.knowledge.extraction.limits import DEFAULT_LIMITS, ExtractionLimits

__all__ = [
    "DEFAULT_LIMITS",
    "KIND_BY_EXTENSION",
    "ArchiveBomb",
    "CorruptDocument",
    "DocumentKind",
    "DocumentRejected",
    "DocumentTooLarge",
    "DocumentTypeMismatch",
    "EmptyDocument",
    "EncryptedDocument",
    "ExtractedDocument",
    "ExtractionLimits",
    "Section",
    "UnrecognisedColumns",
    "UnsupportedDocumentType",
    "extract",
    "extract_pasted_text",
    "kind_for",
]
