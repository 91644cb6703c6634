"""What each command does, as functions of parsed options that return data and never print.

A CLI module (ivrsync/cli/) parses its options, calls one operation here, renders what it
returns through a view (ivrsync/views/, or plan/render.py for plans) and maps it to an exit
code. Only operations open and lock the state: a command cannot forget to release the lock,
nor write the state without holding it.
"""
