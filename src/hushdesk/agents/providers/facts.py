"""What happens to a conversation's text at each kind of provider, for admins choosing one.

Each entry restates, in our words, what the provider says on its own public pages (named in
the text); it is not legal advice and no substitute for the provider's terms and data
processing addendum, whose address is given. ``FACTS_VERSION`` changes whenever any entry
does, so that a record of what an admin was shown can name the version.

``regions`` are our region codes (``hushdesk.workspaces.models.Region``) in which the
provider can process a request, given the right account or deployment. Whether a workspace
pinned to a region may use a provider is ``check_region_allowed``: the admin declares the
provider's ``data_region`` (where their account or deployment processes data), which must
be the workspace's region and one of the provider's ``regions``. Self-hosted servers and the
extractive responder are always allowed: the installation decides where they run.
"""

from __future__ import annotations

from dataclasses import dataclass

from hushdesk.agents.providers.base import ProviderKind

FACTS_VERSION = "2026-12-01"

# Our region codes, as hushdesk.workspaces.models.Region spells them (a test keeps them equal).
REGION_CODES: tuple[str, ...] = ("eu", "us", "af")


@dataclass(frozen=True, slots=True)
class DataProcessingFacts:
    """``processor``: who processes the text. ``training_use`` and ``retention``: what the
    provider states about training on it and keeping it. ``regions``: where it can be
    processed. ``dpa_url``: the provider's data processing terms, if it is a third party.
    ``third_party``: whether the text leaves the installation for someone else."""

    processor: str
    training_use: str
    retention: str
    regions: tuple[str, ...]
    dpa_url: str | None
    third_party: bool


_OPENAI = DataProcessingFacts(
    processor=(
        "OpenAI, a third party. In the EU only for an API project with OpenAI's European data "
        "residency (https://help.openai.com/en/articles/10503543-data-residency-for-the-openai-api: "
        "Enterprise customers eligible for Zero Data Retention); Hushdesk then calls its European "
        "endpoint, eu.api.openai.com."
    ),
    training_use=(
        "As stated by OpenAI on https://platform.openai.com/docs/guides/your-data, data sent to "
        "its API has not been used to train or improve its models since 1 March 2023, unless the "
        "customer explicitly opts in to share it."
    ),
    retention=(
        "As stated on the same page: by default, abuse-monitoring logs, which may contain prompts "
        "and replies, are kept for up to 30 days, unless OpenAI is legally required to keep them "
        "longer. Zero Data Retention or Modified Abuse Monitoring excludes that content, for "
        "customers OpenAI approves under a separate agreement."
    ),
    regions=("us", "eu"),
    dpa_url="https://openai.com/policies/data-processing-addendum/",
    third_party=True,
)

_AZURE_OPENAI = DataProcessingFacts(
    processor=(
        "Microsoft, a third party, as an Azure service. The declared region holds for a Standard "
        "(regional) or Data Zone deployment in it; a Global deployment may process a request in "
        "any Azure region."
    ),
    training_use=(
        "As stated by Microsoft on https://learn.microsoft.com/en-us/legal/cognitive-services/openai/"
        "data-privacy, prompts, completions and embeddings are not available to other customers or "
        "to OpenAI, are not used to improve OpenAI's models or to train the service's foundation "
        "models, and are not used to improve Microsoft's or third parties' products or services "
        "without the customer's permission or instruction."
    ),
    retention=(
        "As stated on the same page: for abuse monitoring, prompts and completions may be stored "
        "for up to 30 days, unless Microsoft approves the customer's application for modified "
        "abuse monitoring."
    ),
    # Azure has regions in each of ours; the deployment type decides (see processor).
    regions=("eu", "us", "af"),
    dpa_url=(
        "https://www.microsoft.com/licensing/docs/view/Microsoft-Products-and-Services-Data-Protection-Addendum-DPA"
    ),
    third_party=True,
)

_ANTHROPIC_DELETION_PAGE = (
    "https://privacy.claude.com/en/articles/7996875-can-you-delete-data-that-i-sent-via-api"
)
_ANTHROPIC_RETENTION_PAGE = (
    "https://privacy.claude.com/en/articles/7996866-how-long-do-you-store-my-organization-s-data"
)

_ANTHROPIC = DataProcessingFacts(
    processor=(
        "Anthropic, a third party. In the United States only: Hushdesk pins inference there "
        '(inference_geo "us", https://platform.claude.com/docs/en/manage-claude/data-residency); '
        "without that, Anthropic may run inference in any geography."
    ),
    training_use=(
        f"As stated by Anthropic on {_ANTHROPIC_DELETION_PAGE}, it does not use data sent through "
        "its API for training, unless an agreement with the customer says otherwise."
    ),
    retention=(
        f"As stated by Anthropic on {_ANTHROPIC_RETENTION_PAGE}: API inputs and outputs are deleted "
        "from its back end automatically within 30 days, unless a zero data retention agreement "
        "says otherwise; content flagged as violating its Usage Policy may be kept for up to 2 "
        "years, and data may be kept longer where the law requires it."
    ),
    # inference_geo offers "us" or "global"; no other region can be promised.
    regions=("us",),
    dpa_url="https://www.anthropic.com/legal/data-processing-addendum",
    third_party=True,
)

_SELF_HOSTED = DataProcessingFacts(
    processor="Your own model server: you are the processor.",
    training_use="Whatever you do with your own server; no third party receives the text.",
    retention="As your server and its logs keep it; nothing is kept by a third party.",
    regions=REGION_CODES,
    dpa_url=None,
    third_party=False,
)

_EXTRACTIVE = DataProcessingFacts(
    processor="No model: replies are built from your knowledge base inside this installation.",
    training_use="Nothing is sent anywhere, so nothing can be used for training.",
    retention="Nothing leaves the installation; only the conversation itself is stored, here.",
    regions=REGION_CODES,
    dpa_url=None,
    third_party=False,
)

_FACTS: dict[ProviderKind, DataProcessingFacts] = {
    ProviderKind.OPENAI: _OPENAI,
    ProviderKind.AZURE_OPENAI: _AZURE_OPENAI,
    ProviderKind.ANTHROPIC: _ANTHROPIC,
    ProviderKind.OPENAI_COMPATIBLE: _SELF_HOSTED,
    ProviderKind.EXTRACTIVE: _EXTRACTIVE,
}


def facts_for(kind: ProviderKind) -> DataProcessingFacts:
    """The data-processing facts of ``kind`` (every kind has some). Pure."""
    return _FACTS[kind]


def check_region_allowed(kind: ProviderKind, region: str, *, data_region: str | None) -> bool:
    """Whether a workspace pinned to ``region`` may send its conversations to a provider of
    ``kind`` whose admin declared it processes data in ``data_region``.

    Always for a provider that is not a third party (self-hosted, extractive). For a cloud
    provider only when ``data_region`` is declared, equals ``region``, and is a region the
    provider can process in (``facts_for(kind).regions``). Pure; raises nothing.
    """
    facts = facts_for(kind)
    if not facts.third_party:
        return True
    return data_region is not None and data_region == region and data_region in facts.regions
