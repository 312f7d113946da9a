"""Workspaces: the tenant boundary. Every tenant-owned row carries its workspace id."""
