"""The reminder message's buttons: the question kind and actions shared by the engine and the handler."""

KIND = "remind"
VIEW = "view"
UPLOAD = "upload"
SNOOZE = "snooze"
