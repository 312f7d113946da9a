"""A light English stemmer: inflections (plurals, -ed, -ing, -ly) and a few derivations
(-ation, -ification, -ization, -ate), in the spirit of Porter's first steps, no further.

Stems need not be words ("charg", "polici"); what matters is that the forms a customer and a
help article use for one idea meet at one stem, while distinct ideas stay apart. Heavier
stemmers conflate too much for short help-centre passages ("user" and "use", "general" and
"generate"), so "-er", "-ment", "-ness", "-al", "-ive" and friends are left alone. Words with
digits ("2fa", "ipv6") and words of two letters or fewer are returned unchanged. Words from
other languages pass through the same rules, which rarely fire on them.
"""

from __future__ import annotations

# Irregular forms of verbs that help-centre questions use, mapped before the suffix rules run.
_IRREGULAR = {
    "paid": "pay",
    "sent": "send",
    "bought": "buy",
    "spent": "spend",
    "forgot": "forget",
    "forgotten": "forget",
    "broke": "break",
    "broken": "break",
    "lost": "lose",
    "chose": "choose",
    "chosen": "choose",
    "gave": "give",
    "given": "give",
    "took": "take",
    "taken": "take",
    "wrote": "write",
    "written": "write",
    "children": "child",
    "people": "person",
}
_VOWELS = frozenset("aeiouy")
_UNDOUBLED_AFTER_SUFFIX = frozenset("lsz")  # Porter keeps "fall-ing", "miss-ing", "buzz-ing".


def stem(word: str) -> str:
    """The stem of one lowercase, folded word."""
    if len(word) <= 2 or not word.isalpha():
        return word
    word = _IRREGULAR.get(word, word)
    word = _strip_plural(word)
    word = _strip_verb_ending(word)
    word = _strip_adverb_ending(word)
    word = _strip_derivation(word)
    return _tidy_ending(word)


def _has_vowel(text: str) -> bool:
    return any(char in _VOWELS for char in text)


def _strip_plural(word: str) -> str:
    if len(word) < 4 or not word.endswith("s"):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "i"
    if word.endswith("sses"):
        return word[:-2]
    if word.endswith("es") and word[:-2].endswith(("sh", "ch", "x", "z", "us")):
        return word[:-2]
    if word.endswith(("ss", "us", "is")):
        return word  # "access", "status", "analysis" are not plurals
    return word[:-1]


def _strip_verb_ending(word: str) -> str:
    if word.endswith("ied") and len(word) > 4:
        return word[:-3] + "i"
    if word.endswith("eed"):
        return word  # "need", "speed", "exceed": the "ed" is part of the word
    for suffix in ("ing", "ed"):
        if not word.endswith(suffix):
            continue
        base = word[: -len(suffix)]
        if len(base) < 2 or not _has_vowel(base):
            return word  # "thing", "string", "shed"
        if base.endswith(("at", "bl", "iz")):
            return base + "e"  # "activat-ed" -> "activate", so it meets "activate"
        if len(base) > 2 and base[-1] == base[-2] and base[-1] not in _UNDOUBLED_AFTER_SUFFIX | _VOWELS:
            return base[:-1]  # "shipp-ing" -> "ship"
        return base
    return word


def _strip_adverb_ending(word: str) -> str:
    # "monthly" -> "month"; but "apply", "reply", "supply" end in "ply", not in "-ly".
    if word.endswith("ly") and len(word) >= 6 and word[-3] != "p":
        return word[:-2]
    return word


def _strip_derivation(word: str) -> str:
    if word.endswith("ification") and len(word) > 11:
        return word[:-9] + "ify"  # "verification" -> "verify"
    if word.endswith("ization") and len(word) > 9:
        return word[:-7] + "ize"
    if word.endswith("ation") and len(word) >= 8:
        word = word[:-5] + "ate"  # "activation" -> "activate"
    if word.endswith("ate") and len(word) >= 7:
        return word[:-3]  # "activate" -> "activ", "authenticate" -> "authentic"
    return word


def _tidy_ending(word: str) -> str:
    if len(word) >= 3 and word.endswith("y") and word[-2] not in _VOWELS:
        word = word[:-1] + "i"  # "policy" meets "polici-es", "verify" meets "verifi-ed"
    if len(word) >= 3 and word.endswith("e") and word[-2] != "e":
        word = word[:-1]  # "charge" meets "charg-ing"; "fee" and "free" keep theirs
    if len(word) >= 3 and word[-1] == word[-2] and word[-1] not in _VOWELS and word[-1] != "s":
        word = word[:-1]  # "bill" meets "bil-led", "cancel" meets "cancell-ed"
    return word
