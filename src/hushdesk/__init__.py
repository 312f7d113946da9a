"""Hushdesk: AI customer-support agents whose data promises are real and tested."""

__version__ = "0.1.0"
