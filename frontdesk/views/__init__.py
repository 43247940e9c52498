"""The staff pages, a module per area; clinic/urls.py imports the modules."""
