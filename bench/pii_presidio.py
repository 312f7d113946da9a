"""Microsoft Presidio's analyzer in the best configuration that runs offline, as a detector
comparable with ours (same labels, same span shape).

Offline constraints, and what is done about each:

- Presidio's default NLP engine loads ``en_core_web_lg`` and downloads it when missing. Here the
  engine is ``spacy.blank("en")``: spaCy's tokenizer with no trained pipeline, so nothing is
  loaded or downloaded, and there is no NER (no PERSON or LOCATION). A blank pipeline has no
  lemmatizer either, and Presidio's context enhancer compares lemmas with context words, so
  the lower-cased token text stands in for the lemma: context words ("passport", "account",
  "national insurance") still raise the scores of the weak patterns, as with a real model.
- The shipped recognizer list (``conf/default_recognizers.yaml``) switches off most
  country-specific recognizers and ties others to es/it/pl. Every predefined recognizer of
  that list is loaded here for English, with its English context words, except the two that
  need a model or a service (``EXCLUDED_RECOGNIZERS``).
- The email recognizer validates domains with ``tldextract``, whose default extractor fetches
  the public suffix list over the network on first use. It is replaced by a subclass with its
  own extractor over the bundled snapshot (no URLs, no disk cache).
- The phone recognizer is given the regions of our data (``PHONE_REGIONS``).

Presidio's entity types are mapped to our labels (``ENTITY_LABELS``); the others are not asked
for. Overlapping results of different types are resolved with our engine's rule (higher score,
then longer span), as a redactor has to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import presidio_analyzer
import spacy
import tldextract
import yaml  # type: ignore[import-untyped]  # PyYAML ships no types; one safe_load here
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry, RecognizerResult
from presidio_analyzer import predefined_recognizers as predefined
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
from spacy.tokens import Doc

from hushdesk.privacy.pii import Span, resolve_overlaps

LANGUAGE = "en"
SHIPPED_RECOGNIZERS = Path(presidio_analyzer.__file__).parent / "conf" / "default_recognizers.yaml"
EXCLUDED_RECOGNIZERS: Mapping[str, str] = {
    "HuggingFaceNerRecognizer": "needs transformers and a model from the Hugging Face hub",
    "BasicLangExtractRecognizer": "needs langextract and a language-model service",
}
# The locales of the messages (PII-DEV.md): South Africa, the US, the UK, Germany, France and
# the Netherlands. Presidio's default list has no ZA or NL, and IL, IN, CA, BR instead.
PHONE_REGIONS = ("ZA", "US", "GB", "DE", "FR", "NL")

ENTITY_LABELS: Mapping[str, str] = {
    "PERSON": "PERSON",  # from NER only: never produced offline
    "LOCATION": "STREET_ADDRESS",  # from NER only: never produced offline
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "ZA_MOBILE_NUMBER": "PHONE",
    "ZA_TELEPHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "US_SSN": "US_SSN",
    "UK_NINO": "UK_NINO",
    "ZA_ID_NUMBER": "ZA_ID",
    "US_PASSPORT": "PASSPORT",
    "UK_PASSPORT": "PASSPORT",
    "DE_PASSPORT": "PASSPORT",
    "ZA_PASSPORT": "PASSPORT",
    "ES_PASSPORT": "PASSPORT",
    "IT_PASSPORT": "PASSPORT",
    "IN_PASSPORT": "PASSPORT",
    "PH_PASSPORT": "PASSPORT",
    "KR_PASSPORT": "PASSPORT",
    "US_BANK_NUMBER": "BANK_ACCOUNT",
    "IP_ADDRESS": "IP_ADDRESS",
}
# Mappings that are only half right, tried both ways on the development set (bench/pii_eval.py
# --presidio-sweep): Presidio has no birth date, only DATE_TIME (any date or time), and finds
# postcodes but not the street address around them.
OPTIONAL_ENTITY_LABELS: Mapping[str, str] = {
    "DATE_TIME": "DATE_OF_BIRTH",
    "UK_POSTCODE": "STREET_ADDRESS",
    "DE_PLZ": "STREET_ADDRESS",
}
SCORE_THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


@dataclass(frozen=True, slots=True)
class PresidioOptions:
    """The knobs of the comparison: Presidio's score threshold and which optional mappings
    are on. The defaults are the best on the development set (docs/pii-evaluation.md)."""

    score_threshold: float = 0.1
    optional_entities: frozenset[str] = frozenset({"DATE_TIME", "UK_POSTCODE"})

    def entity_labels(self) -> dict[str, str]:
        chosen = {k: v for k, v in OPTIONAL_ENTITY_LABELS.items() if k in self.optional_entities}
        return {**ENTITY_LABELS, **chosen}


@dataclass(frozen=True, slots=True)
class Candidate:
    """One Presidio result, in Presidio's terms."""

    start: int
    end: int
    entity_type: str
    score: float


class BlankSpacyNlpEngine(SpacyNlpEngine):
    """Presidio's spaCy engine over ``spacy.blank("en")``: tokens, no model, no entities; the
    lower-cased token text serves as the lemma for the context enhancer."""

    def __init__(self) -> None:
        super().__init__(models=[{"lang_code": LANGUAGE, "model_name": "blank"}])

    def load(self) -> None:
        # The base class types the attribute from its None placeholder; load() fills it.
        self.nlp = {LANGUAGE: spacy.blank(LANGUAGE)}  # type: ignore[assignment]

    def get_supported_entities(self) -> list[str]:
        return []

    def _doc_to_nlp_artifact(self, doc: Doc, language: str) -> NlpArtifacts:
        return NlpArtifacts(
            entities=[],
            tokens=doc,
            tokens_indices=[token.idx for token in doc],
            lemmas=[token.lower_ for token in doc],
            nlp_engine=self,
            language=language,
            scores=[],
        )


class OfflineEmailRecognizer(predefined.EmailRecognizer):
    """Presidio's email recognizer, validating the domain against tldextract's bundled public
    suffix list instead of one fetched over the network."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._suffixes = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)

    def validate_result(self, pattern_text: str) -> bool:
        return self._suffixes(pattern_text).fqdn != ""


@dataclass(frozen=True, slots=True)
class LoadedRecognizers:
    recognizers: tuple[EntityRecognizer, ...]
    skipped: tuple[tuple[str, str], ...]  # (name, why)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(type(r).__name__ for r in self.recognizers))


def shipped_recognizer_entries() -> list[dict[str, Any]]:
    """The predefined entries of Presidio's own recognizer list, enabled or not."""
    config = yaml.safe_load(SHIPPED_RECOGNIZERS.read_text(encoding="utf-8"))
    return [entry for entry in config["recognizers"] if entry.get("type") == "predefined"]


def load_recognizers() -> LoadedRecognizers:
    """Every shipped predefined recognizer for English, except ``EXCLUDED_RECOGNIZERS``. A
    recognizer that fails to build raises: nothing is dropped silently."""
    built: list[EntityRecognizer] = []
    skipped: list[tuple[str, str]] = []
    for entry in shipped_recognizer_entries():
        name = entry["name"]
        if name in EXCLUDED_RECOGNIZERS:
            skipped.append((name, EXCLUDED_RECOGNIZERS[name]))
            continue
        kwargs: dict[str, Any] = {"supported_language": LANGUAGE}
        context = _english_context(entry)
        if context:
            kwargs["context"] = context
        if name == "PhoneRecognizer":
            kwargs["supported_regions"] = PHONE_REGIONS
        cls = OfflineEmailRecognizer if name == "EmailRecognizer" else getattr(predefined, name)
        built.append(cls(**kwargs))
    return LoadedRecognizers(tuple(built), tuple(skipped))


def _english_context(entry: Mapping[str, Any]) -> list[str] | None:
    for language in entry.get("supported_languages") or ():
        if isinstance(language, dict) and language.get("language") == LANGUAGE:
            context = language.get("context")
            return list(context) if context else None
    return None


class PresidioDetector:
    """Presidio's ``AnalyzerEngine`` answering in our labels. Built once; ``detect`` is pure."""

    def __init__(self, options: PresidioOptions | None = None) -> None:
        self.options = options or PresidioOptions()
        self.loaded = load_recognizers()
        nlp_engine = BlankSpacyNlpEngine()
        nlp_engine.load()
        registry = RecognizerRegistry(
            recognizers=list(self.loaded.recognizers), supported_languages=[LANGUAGE]
        )
        # With a registry that holds recognizers, the engine adds no NER recognizer (there is
        # no model to feed one) and loads nothing else.
        self.analyzer = AnalyzerEngine(
            registry=registry, nlp_engine=nlp_engine, supported_languages=[LANGUAGE]
        )
        supported = set(self.analyzer.get_supported_entities(language=LANGUAGE))
        # Asking only for types some recognizer produces keeps Presidio from warning per call;
        # asking only for mapped ones runs no recognizer whose results would be dropped.
        self.entity_types = sorted(supported & set(self.options.entity_labels()))
        self.candidate_types = sorted(supported & (set(ENTITY_LABELS) | set(OPTIONAL_ENTITY_LABELS)))

    def candidates(self, text: str) -> list[Candidate]:
        """Presidio's threshold-0 results for every mapped or optionally mapped type, in its own
        terms (for trying thresholds and mappings without analysing again)."""
        return self._analyze(text, self.candidate_types, 0.0)

    def detect(self, text: str) -> list[Span]:
        found = self._analyze(text, self.entity_types, self.options.score_threshold)
        return to_spans(found, self.options)

    def _analyze(self, text: str, entity_types: list[str], score_threshold: float) -> list[Candidate]:
        results: Sequence[RecognizerResult] = self.analyzer.analyze(
            text=text, language=LANGUAGE, entities=entity_types, score_threshold=score_threshold
        )
        return [Candidate(r.start, r.end, r.entity_type, r.score) for r in results]


def to_spans(candidates: Sequence[Candidate], options: PresidioOptions) -> list[Span]:
    """Keeps the candidates at or above the threshold whose type maps to one of our labels, in
    our labels, overlaps resolved. Filtering Presidio's threshold-0 results here gives what
    Presidio returns at that threshold: it drops a result contained in a same-type one of no
    lower score, so a dropped result never outscores the one that dropped it."""
    labels = options.entity_labels()
    kept = [
        Span(c.start, c.end, labels[c.entity_type], c.score)
        for c in candidates
        if c.entity_type in labels and c.score >= options.score_threshold
    ]
    return resolve_overlaps(kept)
