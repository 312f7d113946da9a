"""Name lists for finding person names: first and last names by how common they are in the
countries our users serve, and how common each is as an ordinary word.

The lists come from two maintained packages at build time: ``names-dataset`` (first and last
names with per-country ranks) and ``wordfreq`` (word frequencies in English, German, French and
Dutch). Loading ``names-dataset`` takes seconds and close to 2 GB, so the few hundred thousand
entries the engine needs are extracted once, in a separate process, into a small gzip file in a
cache folder, and read from there (well under a second) afterwards. The file holds only public
name statistics: no customer data.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

LEXICON_VERSION = 2
LEXICON_FILE = f"pii-names-v{LEXICON_VERSION}.tsv.gz"

# Where Hushdesk's customers and their customers are: southern Africa, Europe, North America, and
# the countries whose names are common among them.
COUNTRIES = (
    "ZA", "BW", "NA", "ZW", "LS", "SZ", "MZ", "MW", "ZM", "KE", "NG", "GH",
    "US", "CA", "GB", "IE", "DE", "AT", "CH", "FR", "BE", "LU", "NL",
    "PT", "ES", "IT", "PL", "IN", "PK", "BD", "TR", "MA", "EG", "SA", "AE", "PH", "BR", "MX",
)  # fmt: skip
FIRST_NAME_RANK_LIMIT = 12000
LAST_NAME_RANK_LIMIT = 25000
WORD_LANGUAGES = ("en", "de", "fr", "nl")
# Ordinary words are kept too (with no name ranks), so that the engine can tell a common word it
# has never seen as a name ("locked", "waiting") from a rare name ("Gcugcwa").
COMMON_WORDS_PER_LANGUAGE = 40000


class LexiconBuildError(RuntimeError):
    """The name lists could not be extracted from the installed packages."""


@dataclass(frozen=True, slots=True)
class NameInfo:
    """Best rank as a first name and as a last name across ``COUNTRIES`` (1 is the most
    common; None when not ranked within the limits), and the highest Zipf frequency of the
    token as an ordinary word in ``WORD_LANGUAGES`` (about 7 for "the", 0 when unknown)."""

    first_rank: int | None
    last_rank: int | None
    word_zipf: float


class NameLexicon:
    """Lower-cased name tokens and what is known of them. Read-only after construction."""

    def __init__(self, entries: Mapping[str, tuple[int, int, float]]) -> None:
        self._entries = dict(entries)

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, token: str) -> NameInfo | None:
        entry = self._entries.get(token.casefold())
        if entry is None:
            return None
        return NameInfo(entry[0] or None, entry[1] or None, entry[2])

    @property
    def raw_entries(self) -> Mapping[str, tuple[int, int, float]]:
        """Casefolded token -> (first-name rank or 0, last-name rank or 0, word Zipf frequency),
        for callers that look up every word of every message."""
        return self._entries

    def word_zipf(self, token: str) -> float:
        """How common the token is as an ordinary word (0 when unknown)."""
        entry = self._entries.get(token.casefold())
        return entry[2] if entry else 0.0

    def first_rank(self, token: str) -> int | None:
        entry = self._entries.get(token.casefold())
        return (entry[0] or None) if entry else None

    def last_rank(self, token: str) -> int | None:
        entry = self._entries.get(token.casefold())
        return (entry[1] or None) if entry else None

    @classmethod
    def load(cls, cache_dir: Path, *, progress: Callable[[str], None] | None = None) -> NameLexicon:
        """Reads the lexicon from ``cache_dir``, building it first when it is missing (once;
        concurrent builders each write a temporary file and rename it into place, so a reader
        never sees half a file). Raises LexiconBuildError when the build fails."""
        path = cache_dir / LEXICON_FILE
        if not path.exists():
            if progress:
                progress("building the name lists from names-dataset and wordfreq (once, about 30 s)")
            build_in_subprocess(path)
        return cls(read_lexicon_file(path))


def read_lexicon_file(path: Path) -> dict[str, tuple[int, int, float]]:
    """token -> (first-name rank or 0, last-name rank or 0, word Zipf frequency)."""
    entries: dict[str, tuple[int, int, float]] = {}
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            token, first, last, zipf = line.rstrip("\n").split("\t")
            entries[token] = (int(first), int(last), float(zipf))
    return entries


_BUILD_COMMAND = "import sys; from hushdesk.privacy.pii.names import main; main(sys.argv[1:])"


def build_in_subprocess(path: Path) -> None:
    """Runs ``build_lexicon_file`` in a child process so that the 2 GB it takes is returned to
    the system when it ends."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    result = subprocess.run(  # noqa: S603 - our own module, run by the current interpreter
        [sys.executable, "-c", _BUILD_COMMAND, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not path.exists():
        raise LexiconBuildError(f"building the name lists failed: {result.stderr.strip()[-500:]}")


def build_lexicon_file(path: Path) -> int:
    """Extracts the lexicon into ``path`` (atomically) and returns the number of entries."""
    from names_dataset import NameDataset
    from wordfreq import top_n_list, zipf_frequency

    dataset = NameDataset()
    first = _best_ranks(dataset.first_names, FIRST_NAME_RANK_LIMIT)
    last = _best_ranks(dataset.last_names, LAST_NAME_RANK_LIMIT)
    words = {
        word
        for language in WORD_LANGUAGES
        for word in top_n_list(language, COMMON_WORDS_PER_LANGUAGE)
        if _is_name_token(word)
    }
    rows = []
    for token in sorted(first.keys() | last.keys() | words):
        zipf = max(zipf_frequency(token, language) for language in WORD_LANGUAGES)
        rows.append(f"{token}\t{first.get(token, 0)}\t{last.get(token, 0)}\t{zipf:.2f}\n")
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".names-")
    try:
        with os.fdopen(handle, "wb") as raw, gzip.open(raw, "wt", encoding="utf-8") as out:
            out.writelines(rows)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return len(rows)


def _best_ranks(table: Mapping[str, Mapping[str, object]], limit: int) -> dict[str, int]:
    best: dict[str, int] = {}
    for name, info in table.items():
        ranks = info.get("rank")
        if not isinstance(ranks, Mapping):
            continue
        wanted = [rank for country, rank in ranks.items() if country in COUNTRIES and isinstance(rank, int)]
        if not wanted or min(wanted) > limit:
            continue
        token = name.casefold()
        if not _is_name_token(token):
            continue
        best[token] = min(min(wanted), best.get(token, limit + 1))
    return best


def _is_name_token(token: str) -> bool:
    parts = token.replace("-", "'").split("'")
    return len(token) >= 2 and all(part.isalpha() for part in parts if part) and token[0].isalpha()


def main(arguments: list[str]) -> None:
    """Entry point of the build process: ``arguments`` is the output path."""
    count = build_lexicon_file(Path(arguments[0]))
    sys.stderr.write(f"{count} name tokens\n")
