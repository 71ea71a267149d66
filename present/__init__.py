"""Pictures and pages: result plots, contact sheets, and collection reports."""
