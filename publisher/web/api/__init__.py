"""The HTTP API under `/api/v1/`: bearer tokens, JSON in and out, problem+json errors, and its
OpenAPI document (`openapi`), built from the same table of endpoints as the routes
(`endpoints`). A thin shell over the functions the CLI and the dashboard call.
"""
