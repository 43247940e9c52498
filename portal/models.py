# The portal's records (side-effect reports, change requests) are treatments' models now:
# the portal holds pages only. Its migrations stay as the history of those tables.
