"""The company a device belongs to, and the device's place in it.

* :mod:`.config`: this device's configuration in its data directory;
* :mod:`.registry`: the replicated device registry and enrolment invitations;
* :mod:`.company`: the company profile and the criteria for enrolling devices;
* :mod:`.enrolment`: ``init`` and ``join``;
* :mod:`.sample`: a sample company with demo data.
"""
