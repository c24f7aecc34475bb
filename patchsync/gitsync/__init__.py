"""Reading and writing the target trees' git repositories."""
