"""Small reusable widgets the views and the main window are built from."""
