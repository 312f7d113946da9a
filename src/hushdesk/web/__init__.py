"""The dashboard pages, the first-run setup page and the HTTP plumbing they share."""
