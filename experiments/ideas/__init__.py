"""The idea queue: TinyDB store under a lock, idea models and status machine, auto-approval, running one idea.
Imports runs/ and spec/; never promotion/, optimizer/, paper/ or cli/."""
