"""The reviewer app: where inspectors open, triage and track cases. For now it carries the CLI
that creates the intake key pair and migrates the database."""
