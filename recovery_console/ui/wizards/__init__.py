"""The guided flows: setup, restore and offline extraction, each a QWizard over engine jobs."""
