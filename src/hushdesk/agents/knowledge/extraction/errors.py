"""Why an uploaded or fetched document was refused.

Every refusal is a ``DocumentRejected`` (422 unless a subclass says otherwise) whose
``public_message`` an admin can act on. Messages name limits and reasons, never the file's
content: a document may hold exactly the personal data the product promises to protect.
"""

from __future__ import annotations

import struct
import zlib

from hushdesk.infra.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed


class DocumentRejected(ValidationFailed):
    code = "document_rejected"
    default_message = "This document could not be added to the knowledge base."


class UnsupportedDocumentType(DocumentRejected, UnsupportedMediaType):
    code = "unsupported_document_type"
    status = 415
    default_message = (
        "This file type is not supported. Upload a PDF, HTML, Markdown (.md), Word (.docx), "
        "plain text (.txt) or CSV (question/answer pairs) file."
    )


class DocumentTypeMismatch(DocumentRejected):
    code = "document_type_mismatch"
    default_message = "The file's content does not match its type (check the file name's extension)."


class DocumentTooLarge(DocumentRejected, PayloadTooLarge):
    code = "document_too_large"
    status = 413
    default_message = "This document is larger than the knowledge base accepts."


class CorruptDocument(DocumentRejected):
    code = "corrupt_document"
    default_message = "This file is damaged or not a valid document, so it could not be read."


class EncryptedDocument(DocumentRejected):
    code = "encrypted_document"
    default_message = (
        "This document is password-protected. Remove the password (save an unprotected copy) "
        "and upload it again."
    )


class ArchiveBomb(DocumentRejected):
    code = "archive_bomb"
    default_message = (
        "This file expands to far more data than its size suggests (a decompression bomb), "
        "so it was not processed."
    )


class EmptyDocument(DocumentRejected):
    code = "empty_document"
    default_message = "This document contains no text to add to the knowledge base."


class UnrecognisedColumns(DocumentRejected):
    code = "unrecognised_csv_columns"
    default_message = (
        'A CSV file needs a header row naming a "question" and an "answer" column (also accepted: '
        "q/a, questions/answers, vraag/antwoord, frage/antwort, pregunta/respuesta, "
        "question/réponse), or exactly two columns without a header: question, then answer."
    )


# What a parser of untrusted bytes may raise on malformed input besides its own errors: each is
# mapped to CorruptDocument at the parser's boundary. MemoryError is deliberately absent (a
# process under memory pressure is not a property of the file), as is every HushdeskError.
PARSER_FAILURES: tuple[type[BaseException], ...] = (
    ValueError,  # also UnicodeError, binascii.Error
    LookupError,  # KeyError, IndexError
    TypeError,
    AttributeError,
    ArithmeticError,  # ZeroDivisionError, OverflowError
    AssertionError,
    RuntimeError,  # RecursionError, NotImplementedError
    SyntaxError,  # lxml's XMLSyntaxError
    EOFError,
    zlib.error,
    struct.error,
)
