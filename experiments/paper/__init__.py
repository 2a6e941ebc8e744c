"""Paper trading the promoted model through the one engine: session, live arrays, guard, journal, venues.
Imports promotion/, runs/ and spec/; never optimizer/ or cli/."""
