"""Why an address could not be imported, in words fit for the person who asked.

Every error is an ``ImportFailed`` (a ``ValidationFailed``, 422, unless it says otherwise) with
its own machine-readable ``code``. Public messages describe what went wrong; they never quote
the response body, which is a third party's text and may be an attacker's.
"""

from __future__ import annotations

from hushdesk.infra.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed


class ImportFailed(ValidationFailed):
    """Base of every refusal or failure of a URL import."""

    code = "import_failed"
    default_message = "The address could not be imported."


class InvalidImportUrl(ImportFailed):
    """The address is not an absolute http(s) URL that may be fetched."""

    code = "import_invalid_url"
    default_message = "Enter a full web address starting with https://."


class ImportNotAllowed(ImportFailed):
    """The outbound client's SSRF guard refused the address or a redirect it led to."""

    code = "import_not_allowed"
    default_message = (
        "That address cannot be imported: it leads to a private, internal or otherwise "
        "restricted destination."
    )


class ImportTooLarge(ImportFailed, PayloadTooLarge):
    """The document is longer than the import limit (declared or as received)."""

    code = "import_too_large"
    status = PayloadTooLarge.status
    default_message = "The document is larger than the import limit."


class ImportTypeUnsupported(ImportFailed, UnsupportedMediaType):
    """The site sent a kind of document that is not imported."""

    code = "import_type_unsupported"
    status = UnsupportedMediaType.status
    default_message = "That kind of document cannot be imported."


class ImportStatusError(ImportFailed):
    """The site answered with a status other than 2xx; ``data["status"]`` holds it."""

    code = "import_remote_status"
    default_message = "The site refused the request."


class ImportUnreachable(ImportFailed):
    """The site could not be reached, did not answer in time, or sent an unreadable answer."""

    code = "import_unreachable"
    default_message = "The site could not be reached."


class ImportTooManyRedirects(ImportFailed):
    code = "import_too_many_redirects"
    default_message = "The site redirected too many times."


class ImportEmpty(ImportFailed):
    """The site answered with an empty document."""

    code = "import_empty"
    default_message = "The page is empty."


class SitemapEmpty(ImportFailed):
    """The sitemap (and the sitemaps it leads to) lists no page that may be imported."""

    code = "sitemap_empty"
    default_message = "The sitemap lists no pages of this site that can be imported."


class SitemapMalformed(ImportFailed):
    """The sitemap is not well-formed sitemap XML, or declares a DOCTYPE or entities."""

    code = "sitemap_malformed"
    default_message = "The sitemap is not a valid sitemap file."
