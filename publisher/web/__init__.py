"""The web app: reader pages, subscriptions, preferences, files, webhooks.

`app` builds the Starlette app (`create_app`) and runs it under uvicorn (`serve`); each other
module is one concern of it (`site`, `subscription`, `articles`, `files`, `archive`, ...).
May import every package below it; never `daemon` or `cli`.
"""
