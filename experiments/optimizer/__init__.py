"""The unattended optimizer: the APScheduler loop, its status file and the meta-agent job.
Imports promotion/, ideas/, runs/, spec/ and agents/; never paper/ or cli/."""
