"""Importing v1 data: readers turn a source into plain records, one core writes them."""
