"""The servers shipped to be tested: the reference model endpoint and the external-API stub."""
