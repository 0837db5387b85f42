"""`ao fix`: run a project's checks, split their failures into work items, verify fixes."""
