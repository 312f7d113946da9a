"""Customer channels: the website widget, and later WhatsApp, SMS and Telegram. Each channel
verifies what arrives (a signature, a token, an origin), parses it to an inbound message and
sends replies back."""
