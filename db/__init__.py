"""Persistence: the durable job queue on SQLite or PostgreSQL (never imports discord, torch, generation or bot)."""
