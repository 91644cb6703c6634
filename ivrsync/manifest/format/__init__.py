"""`ivrsync fmt`: manifests in one canonical order and style, with every comment kept.

The rules:

- **Key order.** The root: `version`, `state`, `providers`, `defaults`, `include`,
  `prompts`, `moved` (the order `Manifest` declares them; included files hold `prompts` and
  `moved`, in the same order). `state` and `defaults` as their models declare. Each provider's
  settings, and its `audio_source`, in the order the model of its `type` declares them, so
  `type` comes first. Each prompt: `description`, `providers`, `voice_type`, `remote_name`,
  `audio`, `acknowledge` (the declared order with the audio map last, where it reads best,
  followed only by the warnings it causes that are accepted). The locales under
  `audio`, and under a per-locale `remote_name`, sorted. Each `moved` entry: `from`, `to`.
- **What is not reordered.** Prompts, providers, list items and `include` globs stay in the
  user's order. Unknown keys stay where they are: only known keys trade places among
  themselves (`validate` reports the unknown ones). A map with a `<<` merge is left in its
  order. Quoting, flow collections (`[aicc, ccc]`, `{type: url, ...}`), block scalars and
  anchors are kept as written.
- **Comments.** A comment line belongs to the key or list item below it and moves with it. A
  comment at the end of a line stays at the end of that line (at the same column, when the line
  still fits before it). Comment lines after the last entry of a map or list, indented deeper
  than the next key, stay at the end of that map or list. The comments above the first key are
  the file's header and stay at the top, with a `# yaml-language-server:` modeline first.
  Comment lines are indented like the entry they belong to (their indentation relative to each
  other is kept).
- **Style.** Maps indented by 2 spaces, list items by 2 under their key (`key:` then
  `  - item`); no trailing spaces; at most one blank line in a row, none at the start of the
  file or right after a line that opens a map or list; exactly one newline at the end; LF line
  endings; no byte-order mark; long values are never wrapped.
- **Safety.** A file that does not parse gets the same `file:line:column` problems as
  `validate`. The result must parse to the same data and hold the same comments as the input,
  or the file is refused with a problem that says why (a comment inside a `[...]` or `{...}`
  spanning lines, for example); it is then left as it was. Formatting a formatted file changes
  nothing.

The modules, one step each: `order` (the key order, from the models), `layout` (where entries
and comments are in a text), `comments` (each comment keyed by the entry it belongs to),
`roundtrip` (ruamel re-writes the data in the style above), `assemble` (the comments put back,
blank lines tidied), `text` (one text formatted and checked) and `files` (which files, read and
written).
"""
