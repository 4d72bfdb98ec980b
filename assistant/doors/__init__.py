"""Doors into the ISMS besides the app and the CLI: the HTTP API (`http_api`), the MCP server (`mcp_server`) and
the JSON both return (`payloads`). Each is a thin layer over the service facade: the facade applies the
clearance of the caller's role, the doors only carry requests and answers."""
