"""The plugin contract: the model, the records it exchanges, hook specs, output layers, the plugin host."""
