"""Operating the edge: process launcher, provisioning loader, command-line tools."""
