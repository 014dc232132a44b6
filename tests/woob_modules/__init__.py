"""woob modules written for the tests: woob loads them from this folder (`woob_modules`)."""
