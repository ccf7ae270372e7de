"""Helpers shared by every app, below all of them: they import no app of ours."""
