"""Identity: people who sign in to the dashboard, their passwords and their sessions."""
