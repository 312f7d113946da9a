"""Citation markers and grounding: only given passages are cited; an answer must cite one."""

from __future__ import annotations

from hushdesk.agents.assistant import wording
from hushdesk.agents.assistant.guardrails.citations import check_citations
from hushdesk.agents.assistant.guardrails.grounding import Grounding, judge_grounding, says_not_found
from hushdesk.agents.assistant.guardrails.placeholders import restore_personal_data
from hushdesk.privacy.pii import Detector
from hushdesk.privacy.pii.pseudonymise import ConversationPseudonyms


def test_markers_for_given_passages_are_kept_and_collected() -> None:
    result = check_citations("Thirty days [2]. Free in the EU [1][2].", 3)
    assert result.text == "Thirty days [2]. Free in the EU [1][2]."
    assert (result.cited, result.invented) == ((1, 2), ())


def test_invented_markers_are_dropped() -> None:
    result = check_citations("Thirty days [9]. Free [0]. Yes [3, 4].", 3)
    assert result.text == "Thirty days. Free. Yes [3]."
    assert (result.cited, result.invented) == ((3,), (0, 4, 9))


def test_other_marker_spellings_are_normalised() -> None:
    result = check_citations("A [source 1], b [^2], c [Passage 3; 1].", 3)
    assert result.text == "A [1], b [2], c [3][1]."
    assert result.cited == (1, 2, 3)


def test_a_markdown_link_with_a_number_is_not_a_marker() -> None:
    assert check_citations("[7](https://shop.example/7)", 2).invented == ()


def test_a_reply_citing_a_given_passage_is_grounded() -> None:
    assert judge_grounding("Thirty days [1].", cited=(1,), passage_count=2) is Grounding.GROUNDED


def test_markers_alone_are_not_an_answer() -> None:
    assert judge_grounding(" [1] ", cited=(1,), passage_count=2) is Grounding.UNGROUNDED


def test_an_answer_without_citations_is_ungrounded() -> None:
    assert judge_grounding("Thirty days.", cited=(), passage_count=2) is Grounding.UNGROUNDED


def test_a_confident_answer_with_no_passages_is_ungrounded() -> None:
    assert (
        judge_grounding("Gift cards never expire [1].", cited=(1,), passage_count=0) is Grounding.UNGROUNDED
    )


def test_saying_it_does_not_know_is_not_found() -> None:
    assert judge_grounding(wording.NOT_FOUND, cited=(), passage_count=0) is Grounding.NOT_FOUND
    assert says_not_found("Sorry, I couldn\u2019t find that in our help pages.")
    assert says_not_found("Dat weet ik niet.")
    assert not says_not_found("Thirty days.")


def test_our_own_wording_offers_a_person_and_none_is_grounded() -> None:
    for text in (wording.NOT_FOUND, wording.LEAK_REFUSAL):
        assert "person from our team" in text
    for text in (wording.HANDED_OFF_ON_REQUEST, wording.HANDED_OFF_AFTER_FAILURES, wording.PROVIDER_FAILED):
        assert "member of our team" in text


def test_restoring_neutralises_tokens_that_were_never_issued(detector: Detector) -> None:
    pseudonyms = ConversationPseudonyms(detector)
    assert pseudonyms.pseudonymise("I'm Ada Lovelace") == "I'm <PERSON_1>"
    restored = restore_personal_data(pseudonyms, "Hi <PERSON_1>, <PERSON_2>, <CREDIT_CARD_1>, <Foo_3>.")
    assert restored.text == "Hi Ada Lovelace, [PERSON], [CREDIT_CARD], [FOO]."
    assert restored.neutralised
    assert not restore_personal_data(pseudonyms, "Hi <PERSON_1>.").neutralised
