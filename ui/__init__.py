"""What the two page apps (frontdesk for staff, portal for patients) share: form fields and
helpers that parse a request, the "previous / next" pagination, safe redirects.

The bottom of the page layer: it may import the domain apps, never frontdesk or portal.
"""
