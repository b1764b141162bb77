"""Agents' other door: the memory tools as a Model Context Protocol server (docs/agents.md)."""
