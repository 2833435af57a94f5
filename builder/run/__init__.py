"""Executing a build plan: the ready-queue executor, progress output, build logs and reports."""
