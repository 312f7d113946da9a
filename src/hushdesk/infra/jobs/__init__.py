"""Background jobs on huey, with the database as the source of truth (ADR 0003).

``models`` (the ``work_item`` table), ``store`` (claim, complete, sweep), ``handlers`` (what a
handler gets), ``queue`` (registry, delivery, ``enqueue_work``), ``backend`` (huey storage for
SQLite or PostgreSQL), ``runner`` (foreground and in-process consumers).
"""
