"""How the commands' results are shown: text, Markdown and JSON, apart from what computed them.

A view takes an operation's result (ivrsync/operations/) and returns strings; the CLI writes
them. Plans have their own views in plan/render.py.
"""
