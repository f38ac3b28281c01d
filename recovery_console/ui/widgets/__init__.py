"""Small reusable widgets and helpers shared by the window, the wizards and the dialogs."""
