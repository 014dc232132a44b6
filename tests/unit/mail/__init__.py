"""Tests of the inbound mail pipeline's pure parts."""
