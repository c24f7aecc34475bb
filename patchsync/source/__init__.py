"""The source side: find, fetch and unpack the newest KOTD src.rpm."""
