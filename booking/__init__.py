"""Schedules, slots and bookings of ECG appointments, and the HIS booking integration.

Built in the booking issue; the folder exists from the start because the design card fixes
the top-level layout."""
