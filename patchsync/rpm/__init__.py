"""Reading RPM packages: headers, verification, the streaming payload walk."""
