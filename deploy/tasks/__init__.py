"""The fab tasks, one small module per concern, each with its own Collection."""
