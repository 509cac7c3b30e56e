"""Plan file formats (YAML, Excel, Word): read a task-division table into a PlanSpec, compare plans; no database."""
