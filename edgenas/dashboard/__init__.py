"""The live dashboard: a read-only web view of search runs while they run (``edgenas dashboard``).

``views`` turns run folders into what the pages show (JSON), ``app`` serves it (FastAPI, Jinja2
templates, Plotly.js from the installed ``plotly`` package); ``templates/`` and ``static/`` ship
with the package.
"""
