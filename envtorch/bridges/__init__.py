"""Bridges to other libraries, one package each, importing its library only when used."""
