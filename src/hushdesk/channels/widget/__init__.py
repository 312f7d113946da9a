"""The website widget channel: signed visitor tokens (``tokens``), the business's identity
tokens (``identity``) and the host page's origin against an agent's allowed domains
(``origins``). These modules are pure: no database, no web framework."""
