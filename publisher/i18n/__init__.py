"""Languages: which catalog a BCP 47 tag reads, the words' translations, dates and numbers.

A shared layer (beside `config`): pure but for reading the shipped and the site's catalogs;
it imports only the other shared modules.
"""
