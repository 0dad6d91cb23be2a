"""The modules, one file each under its OpenSIPS 1.6 name (loadmodule "tm.so" loads tm.py).

Names of older releases that 1.6 scripts of the book's era still load are mapped
to the module that does their job now.
"""
from ..registry import alias_module

# 1.5's RADIUS digest module became auth_aaa + aaa_radius in 1.6; the 1.5 function
# names (radius_www_authorize...) are kept by auth_aaa
alias_module("auth_radius", "auth_aaa")
