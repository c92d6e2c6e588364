"""The clinic portal: server-rendered pages (Jinja2, a little htmx) where clinic staff run
their schedule and bookings and clinicians review ECG studies. It calls the same services as
the /v1/staff and /v1/clinic API routes; see docs/decisions.md for the choices."""
