"""The web dashboard and its JSON API (FastAPI): pages and endpoints over a home, writing only through the wings below.
Imports paper/, optimizer/, promotion/, ideas/, runs/ and spec/; never cli/."""
