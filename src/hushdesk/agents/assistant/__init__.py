"""The assistant: from a conversation so far to a reply, grounded in the agent's knowledge,
with the customer's personal data pseudonymised for the model and every reply checked before
a customer sees it. Storage-free: the caller passes the history in and stores what comes out.

    from hushdesk.agents.assistant.pipeline import answer
"""
