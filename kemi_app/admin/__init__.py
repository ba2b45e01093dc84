"""The admin HTTP listener: health, metrics and the versioned provisioning API."""
