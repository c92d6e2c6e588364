"""A person's own data as a whole: the export of everything the service holds about them, and
its erasure on request (issue 11). Spans the domains; owns no table."""
