"""The machine a run happens on: environment, allocator, distributed processes, their launch, rank zero."""
