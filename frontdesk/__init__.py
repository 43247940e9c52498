"""The staff pages: the schedule, bookings and sessions, follow-ups, patients, reminders and
what patients ask for through the portal. Views parse a form, call one service or selector
and render; the rules live in the domain apps."""
