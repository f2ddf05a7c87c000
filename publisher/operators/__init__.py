"""Operators: admin accounts (argon2 password hashes), dashboard sessions and API tokens.

The CLI, the dashboard and the API all call these. May import `store` and the shared modules.
"""
