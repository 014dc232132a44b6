"""The composition root: the `courier` command wires core/, bot/, mail/ and scheduler/.

It sits outside core/ because core/ must not import the transports.
"""
