"""Reminders: working days, pure schedule computation from deadlines and recurrence, and their sending."""
