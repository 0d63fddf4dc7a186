"""Complete tasks (TaskSpec entries of rnnkit.tasks): data + model + evaluation glue, one module per task."""
