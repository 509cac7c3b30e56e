"""Exports: the 台账 (ledger spreadsheet) and the inspection bundle of evidence files."""
