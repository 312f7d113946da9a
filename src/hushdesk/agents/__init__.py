"""Agents: a business's AI support agents, and who on its team works on which."""
