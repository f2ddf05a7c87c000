"""The dashboard under `/admin/`: sign-in and sessions (`shell`, `login`), the pages (`pages`,
`subscribers`, `editions`) and the inline SVG charts they draw (`charts`).

A thin shell over `operators`, `reports`, `audience` and `mail`; may import everything below
`web`, and `web`'s own modules.
"""
