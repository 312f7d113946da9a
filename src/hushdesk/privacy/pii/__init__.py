"""The PII engine: finds personal data in short informal text, offline, and redacts or
pseudonymises it. A pure library: it imports nothing else of Hushdesk's, so the log filter, the
transcript store and the model-call path can all use it.

    detector = Detector(names=NameLexicon.load(cache_dir))
    spans = detector.detect("hi, i'm thabo, call me on 082 555 1234")
"""

from hushdesk.privacy.pii.custom import CustomPattern, CustomPatternError
from hushdesk.privacy.pii.engine import Detector, DetectorConfig, resolve_overlaps
from hushdesk.privacy.pii.labels import ALL_LABELS, CHECKSUM_LABELS, Label, Span
from hushdesk.privacy.pii.names import LexiconBuildError, NameLexicon

__all__ = [
    "ALL_LABELS",
    "CHECKSUM_LABELS",
    "CustomPattern",
    "CustomPatternError",
    "Detector",
    "DetectorConfig",
    "Label",
    "LexiconBuildError",
    "NameLexicon",
    "Span",
    "resolve_overlaps",
]
