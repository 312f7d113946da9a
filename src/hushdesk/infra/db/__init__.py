"""Database access: engines, the declarative base, the unit of work, migrations."""
