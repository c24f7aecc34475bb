"""patchsync: keep a kernel tree's copy of SUSE's Xen patchset in step with the KOTD."""

__version__ = "0.1.0"
