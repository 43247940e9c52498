"""What treatments tells the layers above it, without knowing them.

Both are sent INSIDE the service's transaction, synchronously: a receiver's writes (the
reminders app plans its outbox rows) commit or roll back together with the change itself, so
a booking never commits without its reminders, nor reminders without their booking. A
receiver that must act only after the commit (nudging a Celery worker) registers
`transaction.on_commit` itself.
"""

from django.dispatch import Signal

# A session, or one of its follow-ups, changed: booked, moved, cancelled, completed, marked a
# no-show, a follow-up recorded. Arguments: session, now.
session_changed = Signal()

# A session was cancelled (after session_changed): the patient is to be told. Arguments:
# session, now.
session_cancelled = Signal()

# Staff closed a patient's move/cancel request with its outcome: the patient is to be told.
# Arguments: change_request, now.
request_answered = Signal()

# A cancelled or moved session left its time free (sent inside that change's transaction,
# after session_changed). Arguments: session, starts_at, ends_at, clinician_id, room_id,
# site_id, occasion (the session's reschedule count before the change), now.
slot_freed = Signal()

# The waitlist offered a freed time to a patient: the patient is to be told (once per
# channel). Arguments: offer, notice_at (when the notice may go out), now.
waitlist_offer_made = Signal()

# A waitlist offer ended (accepted, declined, expired, the time gone): a notice not yet sent
# is withdrawn. Arguments: offer, now.
waitlist_offer_ended = Signal()
